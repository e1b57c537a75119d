"""A TCP proxy a test can cut, in front of PostgreSQL or of the service.

cut() drops every connection and refuses new ones, as a stopped or unreachable server
does; restore() lets them through again on the same port. stall() keeps connections open
but forwards nothing, as a half-open network path does.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qs, urlsplit, urlunsplit


class TcpProxy:
    def __init__(self, upstream_dsn: str):
        """In front of the PostgreSQL that `upstream_dsn` names (TCP or Unix socket), or of
        an http:// service."""
        parts = urlsplit(upstream_dsn)
        query = parse_qs(parts.query)
        self._upstream_dsn = upstream_dsn
        self._socket_dir = query.get("host", [None])[0] if not parts.hostname else None
        self._host = parts.hostname
        default_port = 80 if parts.scheme == "http" else 5432
        self._port = int(query.get("port", [parts.port or default_port])[0])
        self._server: asyncio.AbstractServer | None = None
        self._pipes: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._stalled = False
        self.port = 0

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def url(self) -> str:
        """An http:// upstream's URL, through the proxy."""
        return f"http://127.0.0.1:{self.port}"

    def dsn(self) -> str:
        """The upstream DSN, rewritten to go through the proxy."""
        parts = urlsplit(self._upstream_dsn)
        user = parts.username or "postgres"
        return urlunsplit(("postgresql", f"{user}@127.0.0.1:{self.port}", parts.path, "", ""))

    async def _open_upstream(self):
        if self._socket_dir:
            return await asyncio.open_unix_connection(f"{self._socket_dir}/.s.PGSQL.{self._port}")
        return await asyncio.open_connection(self._host, self._port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await self._open_upstream()
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                while self._stalled:
                    await asyncio.sleep(0.05)
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            sink.close()
            self._writers.discard(sink)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._pipes):
            task.cancel()
        self._writers.clear()

    async def restore(self) -> None:
        self._stalled = False
        if self._server is None:
            await self.start()

    def stall(self) -> None:
        self._stalled = True

    async def close(self) -> None:
        await self.cut()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._pipes, return_exceptions=True)
