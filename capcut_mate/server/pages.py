"""What the service serves besides APIs: its OpenAPI document and docs page, the live
dashboard, and stored videos."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from capcut_mate.protocol.errors import Errors, ServiceError
from capcut_mate.server.endpoints import Endpoint, EndpointGroup
from capcut_mate.server.http import json_response
from capcut_mate.server.keys import OPENAPI_DOCUMENT, VIDEO_STORE

STATIC = Path(__file__).with_name("static")
# Stored videos are named by the video store itself: <job>-<attempt>-<16 hex>.mp4.
VIDEO_NAME = re.compile(r"^\d{1,18}-\d{1,9}-[0-9a-f]{16}\.mp4$")


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI_DOCUMENT])


def _page(name: str):
    async def serve(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})

    return serve


async def video(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = request.config_dict[VIDEO_STORE].folder / name
    if not VIDEO_NAME.match(name) or not path.is_file():
        raise ServiceError(Errors.ROUTE_NOT_FOUND, "no such video")
    return web.FileResponse(path, headers={"Content-Type": "video/mp4"})


GROUP = EndpointGroup(
    tag="pages",
    description="Documents, pages and files.",
    endpoints=[
        Endpoint("GET", "/openapi.json", openapi_json, "This document (OpenAPI 3.1)"),
        Endpoint("GET", "/docs", _page("docs.html"), "A readable page of this document", media_type="text/html"),
        Endpoint("GET", "/dashboard", _page("dashboard.html"),
                 "The live dashboard (asks for an operator token, or takes #token=… in the URL)",
                 media_type="text/html"),
        Endpoint("GET", "/videos/{name}", video, "A stored video (Range requests supported)",
                 media_type="video/mp4", errors=(Errors.ROUTE_NOT_FOUND,)),
    ],
)
