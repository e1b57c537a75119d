"""What guards the client API: optional API keys, and a rate limit per client address.

Keys (CAPCUT_MATE_CLIENT_API_KEYS) come in the body's `apiKey` field, as the public
capcut-mate service's clients send them, or in an `X-Api-Key` header; only their SHA-256
hashes are kept, and a presented key is compared with each of them in constant time.
The rate limit is a token bucket per address: CAPCUT_MATE_CLIENT_RATE_LIMIT requests a
second on average, bursts up to CAPCUT_MATE_CLIENT_RATE_BURST; past that, 429. The buckets
live in PostgreSQL (client_rate_buckets, one statement per request), so every process of a
service (`serve --workers N`, or processes on several hosts) draws on the same bucket.
"""

from __future__ import annotations

import hashlib
import hmac
import math

import orjson
from aiohttp import web

from capcut_mate.database.store import Store
from capcut_mate.protocol.errors import Errors, ServiceError
from capcut_mate.server.app_keys import STORE
from capcut_mate.server.http import Handler, read_body

API_KEY_HEADER = "X-Api-Key"
MAX_ADDRESS_LENGTH = 200


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class ClientGuard:
    def __init__(self, api_keys: list[str], *, rate: float, burst: int, trust_forwarded_for: bool):
        self._key_hashes = [_digest(key) for key in api_keys]
        self.rate = rate
        self.burst = burst
        self.trust_forwarded_for = trust_forwarded_for

    @property
    def needs_key(self) -> bool:
        return bool(self._key_hashes)

    def key_is_valid(self, presented: str) -> bool:
        digest = _digest(presented)
        matches = [hmac.compare_digest(digest, expected) for expected in self._key_hashes]  # no early exit
        return any(matches)

    def client_address(self, request: web.Request) -> str:
        """The peer; or, behind a trusted proxy, the address that proxy appended to
        X-Forwarded-For: the rightmost. Entries left of it are the client's own words."""
        if self.trust_forwarded_for and (forwarded := request.headers.get("X-Forwarded-For")):
            return forwarded.rsplit(",", 1)[-1].strip()[:MAX_ADDRESS_LENGTH]
        return request.remote or "unknown"

    async def seconds_until_allowed(self, store: Store, address: str) -> float:
        """0 when this request may go (and it is counted); else how long until one may."""
        if self.rate <= 0:
            return 0.0
        return await store.take_client_request(address, rate=self.rate, burst=self.burst)


CLIENT_GUARD = web.AppKey("client_guard", ClientGuard)


async def _presented_key(request: web.Request) -> str | None:
    if header := request.headers.get(API_KEY_HEADER):
        return header
    if request.method != "POST":
        return None
    try:
        body = orjson.loads(await read_body(request))  # cached: the handler reads it again for free
    except orjson.JSONDecodeError:
        return None
    key = body.get("apiKey") if isinstance(body, dict) else None
    return key if isinstance(key, str) else None


@web.middleware
async def guard_client_routes(request: web.Request, handler: Handler) -> web.StreamResponse:
    guard = request.config_dict[CLIENT_GUARD]
    wait = await guard.seconds_until_allowed(request.config_dict[STORE], guard.client_address(request))
    if wait:
        raise ServiceError(Errors.RATE_LIMITED, headers={"Retry-After": str(max(1, math.ceil(wait)))})
    if guard.needs_key:
        presented = await _presented_key(request)
        if not presented or not guard.key_is_valid(presented):
            raise ServiceError(Errors.AUTHENTICATION_FAILED, "apiKey (or the X-Api-Key header) is missing or wrong")
    return await handler(request)
