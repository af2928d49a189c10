"""A loopback TCP relay whose link can be cut, for the database-outage drill: while cut, open
connections are dropped (reset, as when a network path fails) and new ones are refused."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit


class LinkCutter:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.url = ""
        self.cuts = 0
        self._down = False
        self._open: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def to_url(cls, url: str, *, enabled: bool = True) -> AsyncIterator[LinkCutter | None]:
        """A relay to the database at `url`; `.url` is the same URL through the relay."""
        if not enabled:
            yield None
            return
        parts = urlsplit(url)
        link = cls(parts.hostname or "127.0.0.1", parts.port or 5432)
        async with link:
            user = f"{parts.username}{':' + parts.password if parts.password else ''}@" if parts.username else ""
            netloc = f"{user}127.0.0.1:{link.port}"
            link.url = urlunsplit(parts._replace(netloc=netloc))
            yield link

    async def __aenter__(self) -> LinkCutter:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        self._drop_all()
        await self._server.wait_closed()

    async def cut(self, seconds: float) -> None:
        """Drop every open connection and refuse new ones for `seconds`."""
        self.cuts += 1
        self._down = True
        self._drop_all()
        try:
            await asyncio.sleep(seconds)
        finally:
            self._down = False

    def _drop_all(self) -> None:
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self._down:
            client_w.transport.abort()
            return
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.transport.abort()
            return
        self._open.update((client_w, server_w))
        try:
            await asyncio.gather(_pipe(client_r, server_w), _pipe(server_r, client_w))
        finally:
            for writer in (client_w, server_w):
                self._open.discard(writer)
                writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()
