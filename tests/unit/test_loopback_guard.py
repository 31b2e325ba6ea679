import socket

import pytest


def test_connections_outside_loopback_are_refused() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(ConnectionRefusedError, match="loopback"):
            sock.connect(("192.0.2.1", 80))
    finally:
        sock.close()
