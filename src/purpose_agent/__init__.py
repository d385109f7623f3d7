"""Purpose-Agent: configurable agents that answer only from their own knowledge, with citations."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("purpose-agent")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
