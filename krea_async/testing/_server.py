"""Serving the fake on a real socket: uvicorn in a background thread with its own
event loop (:func:`serve_in_thread`), and the pieces ``python -m
krea_async.testing serve`` uses (:func:`bind`, :func:`url_host`)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

from starlette.types import ASGIApp

from ._middleware import quiet_uvicorn

__all__ = ["bind", "serve_in_thread", "url_host"]


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (IPv6 when ``host`` has a colon), with
    ``TCP_NODELAY``.

    Accepted connections inherit ``TCP_NODELAY`` from the listening socket (Linux,
    macOS). asyncio only sets it itself on sockets whose ``proto`` is ``IPPROTO_TCP``,
    which a socket made as here is not; without it, Nagle's algorithm holds uvicorn's
    response body until the client's delayed ACK, which makes each request on loopback
    many times slower.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def url_host(host: str) -> str:
    """``host`` as it goes in a URL (``[::1]`` for IPv6)."""
    return f"[{host}]" if ":" in host else host


@contextlib.contextmanager
def serve_in_thread(
    app: ASGIApp, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning"
) -> Iterator[str]:
    """Serve ``app`` with uvicorn (h11, asyncio) in a daemon thread; yield its base URL.

    ``port=0`` picks a free port. On exit the server shuts down, the thread is
    joined and the socket closed. ``RuntimeError`` if it does not start in 10 s.
    """
    import uvicorn

    quiet_uvicorn()
    sock = bind(host, port)
    real_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level=log_level,
        lifespan="off",
        loop="asyncio",
        http="h11",
        ws="none",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run,
        kwargs={"sockets": [sock]},
        name=f"krea-fake-{real_port}",
        daemon=True,
    )
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake Krea server did not start")
            time.sleep(0.005)
        yield f"http://{url_host(host)}:{real_port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
