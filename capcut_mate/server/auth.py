"""Tokens for agents and operators: made once, shown once, kept as SHA-256 hashes, checked
in constant time.

A token reads `<kind>_<token id>_<secret>`: `cmat_…` for an agent, `cmop_…` for an
operator. The service finds the holder by token id and compares hashes, so neither the
secret nor timing tells anything about other holders.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from aiohttp import web

from capcut_mate.database.store import AgentCredentials, OperatorCredentials
from capcut_mate.protocol.errors import Errors, ServiceError
from capcut_mate.server.app_keys import STORE

AGENT_TOKEN = "cmat"
OPERATOR_TOKEN = "cmop"
AGENT = web.RequestKey("agent", AgentCredentials)
OPERATOR = web.RequestKey("operator", OperatorCredentials)
_DECOY_HASH = hashlib.sha256(b"no such token").digest()


@dataclass(frozen=True)
class NewToken:
    token: str  # shown to its holder once
    token_id: str
    token_hash: bytes


def new_token(kind: str) -> NewToken:
    token_id = secrets.token_hex(6)
    token = f"{kind}_{token_id}_{secrets.token_urlsafe(32)}"
    return NewToken(token, token_id, hash_token(token))


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def parse_token(token: str) -> tuple[str, str] | None:
    """(kind, token id) of a well-formed token, else None."""
    kind, _, rest = token.partition("_")
    token_id, _, secret = rest.partition("_")
    return (kind, token_id) if kind and token_id and secret else None


def bearer_token(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _matches(token: str, credentials) -> bool:
    # Compare even when nobody holds that id, so timing tells nothing about which ids exist.
    expected = credentials.token_hash if credentials else _DECOY_HASH
    return hmac.compare_digest(hash_token(token), expected) and credentials is not None and not credentials.revoked


def _unauthenticated(realm: str) -> ServiceError:
    return ServiceError(Errors.AUTHENTICATION_FAILED, headers={"WWW-Authenticate": f'Bearer realm="{realm}"'})


async def _holder(request: web.Request, kind: str):
    token = bearer_token(request)
    parsed = parse_token(token)
    store = request.config_dict[STORE]
    if parsed is None or parsed[0] != kind:
        return None
    credentials = await (store.find_agent if kind == AGENT_TOKEN else store.find_operator)(parsed[1])
    return credentials if _matches(token, credentials) else None


@web.middleware
async def require_agent(request: web.Request, handler):
    """Every agent route: a known, unrevoked agent's token, or 401."""
    credentials = await _holder(request, AGENT_TOKEN)
    if credentials is None:
        raise _unauthenticated("agents")
    request[AGENT] = credentials
    return await handler(request)


@web.middleware
async def require_operator(request: web.Request, handler):
    """Every operations route: an operator's token; 403 for an agent's, 401 for anything else."""
    credentials = await _holder(request, OPERATOR_TOKEN)
    if credentials is None:
        if await _holder(request, AGENT_TOKEN) is not None:
            raise ServiceError(Errors.PERMISSION_DENIED)
        raise _unauthenticated("operators")
    request[OPERATOR] = credentials
    return await handler(request)
