"""Hostile connections against the running service: clients that send their request a byte at a time
(slow loris), send nothing, stop halfway through a body, or send headers by the megabyte. The server
answers each with a problem or closes it within its bounds, keeps serving everyone else meanwhile,
and gets back the files it held."""

from __future__ import annotations

import contextlib
import socket
import time

import httpx
import psutil

from tests.hostile.service import BODY_IDLE_TIMEOUT_SECONDS, HEAD_TIMEOUT_SECONDS, Service


def connect(service: Service, timeout: float = 10) -> socket.socket:
    host, port = service.base_url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


def read_all(sock: socket.socket) -> bytes:
    """What the server sent until it closed the connection (or the client's timeout passed)."""
    received = b""
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while chunk := sock.recv(65_536):
            received += chunk
    return received


def test_a_slow_loris_is_answered_408_and_dropped_while_others_are_served(service: Service) -> None:
    process = psutil.Process(service.api.pid)
    files_before = process.num_fds()
    lorises = [connect(service) for _ in range(50)]
    request = b"GET /api/agents HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
    started = time.monotonic()
    sent = 0
    with httpx.Client(base_url=service.base_url, headers={"X-API-Key": service.user_key}) as client:
        while time.monotonic() - started < HEAD_TIMEOUT_SECONDS + 1 and sent < len(request):
            for sock in lorises:
                with contextlib.suppress(OSError):  # closed by the server: the point of the test
                    sock.send(request[sent : sent + 1])
            sent += 1
            # Everyone else is served meanwhile.
            assert client.get("/api/agents", timeout=5).status_code == 200
            time.sleep(0.2)
    answers = [read_all(sock) for sock in lorises]
    for sock in lorises:
        sock.close()
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers), answers[0]
    assert b"application/problem+json" in answers[0]
    assert time.monotonic() - started < HEAD_TIMEOUT_SECONDS + 3
    time.sleep(0.5)
    assert process.num_fds() <= files_before + 2


def test_a_connection_that_sends_nothing_is_closed_at_the_head_deadline(service: Service) -> None:
    with connect(service) as sock:
        started = time.monotonic()
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert HEAD_TIMEOUT_SECONDS - 0.5 < time.monotonic() - started < HEAD_TIMEOUT_SECONDS + 2


def test_a_body_that_stops_arriving_closes_its_connection(service: Service) -> None:
    with connect(service) as sock:
        sock.sendall(
            b"POST /api/chat HTTP/1.1\r\nHost: x\r\nX-API-Key: " + service.user_key.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"agent_id\": "
        )  # fmt: skip
        started = time.monotonic()
        answer = read_all(sock)
    assert not answer.startswith(b"HTTP/1.1 5"), answer
    assert time.monotonic() - started < BODY_IDLE_TIMEOUT_SECONDS + 2


def send_and_read(service: Service, data: bytes) -> bytes:
    sock = connect(service)
    try:
        with contextlib.suppress(OSError):  # the server may close while the rest is still being sent
            sock.sendall(data)
        return read_all(sock)
    finally:
        sock.close()


def test_huge_headers_get_431_and_a_huge_url_a_400(service: Service) -> None:
    for head in (
        b"GET /api/agents HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
        b"GET /api/agents HTTP/1.1\r\nHost: x\r\n" + b"X-Many: v\r\n" * 20_000 + b"\r\n",
    ):
        answer = send_and_read(service, head)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
        assert b"application/problem+json" in answer
    # llhttp itself gives up on a request line this long: uvicorn's 400, sent as a problem too.
    answer = send_and_read(service, b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:100]
    assert b"application/problem+json" in answer
    with httpx.Client(base_url=service.base_url, headers={"X-API-Key": service.user_key}) as client:
        assert client.get("/api/agents", headers={"X-Fine": "a" * 30_000}).status_code == 200
