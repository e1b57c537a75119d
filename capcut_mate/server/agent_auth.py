"""Agent tokens: made once, shown once, kept as SHA-256 hashes, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from aiohttp import web

from capcut_mate.database.store import AgentCredentials
from capcut_mate.protocol.errors import Errors, ServiceError
from capcut_mate.server.keys import STORE

TOKEN_PREFIX = "cmat"
AGENT = web.RequestKey("agent", AgentCredentials)


@dataclass(frozen=True)
class NewToken:
    token: str  # shown to the operator once
    token_id: str
    token_hash: bytes


def new_agent_token() -> NewToken:
    token_id = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
    return NewToken(token, token_id, hash_token(token))


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def token_id_of(token: str) -> str | None:
    prefix, _, rest = token.partition("_")
    token_id, _, secret = rest.partition("_")
    return token_id if prefix == TOKEN_PREFIX and token_id and secret else None


def bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@web.middleware
async def require_agent(request: web.Request, handler):
    """Every agent route: a known, unrevoked agent's token, or 401."""
    token = bearer_token(request)
    token_id = token_id_of(token) if token else None
    credentials = await request.config_dict[STORE].find_agent(token_id) if token_id else None
    # Compare even when the agent is unknown, so timing tells nothing about which ids exist.
    expected = credentials.token_hash if credentials else hash_token(secrets.token_hex(8))
    if not (hmac.compare_digest(hash_token(token or ""), expected) and credentials and not credentials.revoked):
        raise ServiceError(Errors.AUTHENTICATION_FAILED, headers={"WWW-Authenticate": 'Bearer realm="agents"'})
    request[AGENT] = credentials
    return await handler(request)
