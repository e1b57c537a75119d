"""Which addresses the ffmpeg exporter fetches drafts from.

A draft URL comes from whoever submitted the job, so without a rule an agent could be made
to fetch from its own network (cloud metadata, admin pages) and hand the answer back as a
video. Only public addresses are fetched, and only over http(s), except:

- the agent's own service (its `--server` origins), where local agents find sample drafts;
- anything, file:// folders included, when the agent runs with `--allow-local-drafts`.

Host names are checked when they are resolved for connecting, so a DNS answer cannot swap
in a private address after a check; redirects are followed one hop at a time, each hop
checked again (see fetch.py).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _host_and_port(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    return (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(parts.scheme)


class AddressRefused(Exception):
    """Not an OSError on purpose: aiohttp passes it through instead of calling it a DNS failure."""


@dataclass(frozen=True)
class AddressPolicy:
    allow_private: bool = False  # --allow-local-drafts
    trusted_origins: tuple[str, ...] = ()  # the agent's service(s), e.g. ("http://127.0.0.1:8000",)

    def check_url(self, url: str) -> None:
        """Refuse a URL this agent may not fetch; host names are checked again on resolving."""
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise AddressRefused(f"只能下载 http(s) 地址: {parts.scheme or '?'}://…")
        if self.trusts(parts.hostname, parts.port or _DEFAULT_PORTS[parts.scheme]):
            return
        try:
            address = ipaddress.ip_address(parts.hostname)
        except ValueError:
            return  # a name: GuardedResolver checks what it resolves to
        self.check_address(parts.hostname, address)

    def trusts(self, host: str, port: int) -> bool:
        if self.allow_private:
            return True
        return (host.lower(), port) in {_host_and_port(origin) for origin in self.trusted_origins}

    @staticmethod
    def check_address(host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            raise AddressRefused(f"{host} 是内网或保留地址 ({address})；需要时用 --allow-local-drafts 启动导出代理")


class GuardedResolver(AbstractResolver):
    """The default resolver, refusing names that resolve to addresses the policy forbids."""

    def __init__(self, policy: AddressPolicy):
        self.policy = policy
        self._resolver = DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._resolver.resolve(host, port, family)
        if not self.policy.trusts(host, port):
            for result in results:
                self.policy.check_address(host, ipaddress.ip_address(result["host"]))
        return results

    async def close(self) -> None:
        await self._resolver.close()
