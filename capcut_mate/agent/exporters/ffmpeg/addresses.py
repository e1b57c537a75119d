"""Which addresses the ffmpeg exporter fetches drafts from.

A draft URL comes from whoever submitted the job, so without a rule an agent could be made
to fetch from its own network (cloud metadata, admin pages) and hand the answer back as a
video. Only public addresses are fetched, and only over http(s), except:

- the agent's own service (its `--server` origins), where local agents find sample drafts;
- anything, file:// folders included, when the agent runs with `--allow-local-drafts`.

A host is judged as the HTTP client will connect to it, never as written: yarl folds
`１２７.０.０.１`, `127。0。0。1` and `①②⑦.0.0.1` (NFKC, IDNA) into 127.0.0.1 before aiohttp
sees it, and aiohttp asks no resolver about an address. Host names are checked again when
they are resolved for connecting, so a DNS answer cannot swap in a private address after a
check; redirects are followed one hop at a time, each hop checked again (see fetch.py).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

_SCHEMES = ("http", "https")


class AddressRefused(Exception):
    """Not an OSError on purpose: aiohttp passes it through instead of calling it a DNS failure."""


def connect_target(url: str) -> URL:
    """`url` as aiohttp will take it: its raw_host is the host it connects to (or resolves)."""
    try:
        return URL(url)
    except ValueError as error:  # a host IDNA cannot encode: no client connects to it
        raise AddressRefused(f"无法识别的地址: {error}") from None


@dataclass(frozen=True)
class AddressPolicy:
    allow_private: bool = False  # --allow-local-drafts
    trusted_origins: tuple[str, ...] = ()  # the agent's service(s), e.g. ("http://127.0.0.1:8000",)

    def check_url(self, url: str) -> URL:
        """Refuse a URL this agent may not fetch, else the URL to fetch (the very one judged);
        host names are checked again on resolving."""
        target = connect_target(url)
        host = target.raw_host
        if target.scheme not in _SCHEMES or not host:
            raise AddressRefused(f"只能下载 http(s) 地址: {target.scheme or '?'}://…")
        if unusual_ipv4_spelling(host):
            raise AddressRefused(f"不接受这种写法的 IPv4 地址: {host} (只接受 a.b.c.d)")
        if self.trusts(host, target.port):
            return target
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return target  # a name: GuardedResolver checks what it resolves to
        self.check_address(host, address)
        return target

    def trusts(self, host: str, port: int | None) -> bool:
        """`host` as the client connects to it (a URL's raw_host, or what aiohttp resolves)."""
        if self.allow_private:
            return True
        origins = (connect_target(origin) for origin in self.trusted_origins)
        return (host, port) in {(origin.raw_host, origin.port) for origin in origins}

    @staticmethod
    def check_address(host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        for judged in (address, *embedded_ipv4(address)):
            if not judged.is_global or judged.is_multicast or getattr(judged, "is_site_local", False):
                raise AddressRefused(f"{host} 是内网或保留地址 ({judged})；需要时用 --allow-local-drafts 启动导出代理")


# IPv6 ranges whose addresses carry an IPv4 address in their last 32 bits, and reach it
# (translators, tunnels, compatibility forms): ::/96 (IPv4-compatible), ::ffff:0:0/96
# (mapped), ::ffff:0:0:0/96 (SIIT translated), 64:ff9b::/96 and 64:ff9b:1::/48 (NAT64).
_LAST_32_BITS_EMBED = tuple(ipaddress.IPv6Network(net) for net in (
    "::/96", "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48",
))


def embedded_ipv4(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address reaches through its form: the forms above, 6to4
    (2002::/16) and Teredo (2001::/32). Each is judged by the IPv4 rules as well."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found = []
    if any(address in network for network in _LAST_32_BITS_EMBED) and address not in _LOOPBACK_AND_UNSPECIFIED:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour:
        found.append(address.sixtofour)
    if address.teredo:
        found.extend(address.teredo)
    return found


_LOOPBACK_AND_UNSPECIFIED = (ipaddress.IPv6Address("::"), ipaddress.IPv6Address("::1"))  # not IPv4 forms

# Host names made only of digits, dots and hex: what inet_aton reads as an IPv4 address
# (2130706433, 0177.0.0.1, 0x7f.1, 127.1). Only the dotted-quad spelling is fetched.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]*))*\.?$")


def unusual_ipv4_spelling(host: str) -> bool:
    if not _NUMERIC_HOST.match(host):
        return False
    try:
        return str(ipaddress.IPv4Address(host)) != host
    except ValueError:
        return True


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
