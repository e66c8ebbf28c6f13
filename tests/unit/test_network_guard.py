import socket

import httpx
import pytest

from tests.conftest import NetworkGuardError


def test_guard_refuses_a_public_address() -> None:
    with socket.socket() as sock, pytest.raises(NetworkGuardError):
        sock.connect(("93.184.216.34", 80))


def test_guard_refuses_dns_of_a_remote_host() -> None:
    with pytest.raises(NetworkGuardError):
        socket.getaddrinfo("pypi.org", 443)


def test_guard_refuses_httpx_to_a_remote_host() -> None:
    with pytest.raises(NetworkGuardError):
        httpx.get("https://api.openai.com/v1/models", timeout=2)


def test_guard_allows_loopback() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.socket() as client:
            client.connect(server.getsockname())
