"""Typed keys for what the application holds (aiohttp AppKeys). Modules that own a
resource of their own define its key beside it (METRICS, ETA, CLIENT_GUARD)."""

from aiohttp import web

from capcut_mate.database.store import Store
from capcut_mate.server.claim_wakeups import ClaimWakeups
from capcut_mate.server.video_store import VideoStore
from capcut_mate.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
WAKEUPS = web.AppKey("wakeups", ClaimWakeups)
VIDEO_STORE = web.AppKey("video_store", VideoStore)
OPENAPI_DOCUMENT = web.AppKey("openapi_document", dict)
