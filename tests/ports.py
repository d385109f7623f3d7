"""Local ports for the servers tests start: free ones, and addresses where nothing listens."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def refused_url() -> str:
    """A base URL where nothing listens: connections are refused."""
    return f"http://127.0.0.1:{free_port()}"
