"""The pages a person opens in a browser: where to start (/), the OpenAPI document and its
readable page, and the live dashboard."""

from __future__ import annotations

import html
from pathlib import Path
from string import Template

from aiohttp import web

from capcut_mate.server.app_keys import OPENAPI_DOCUMENT
from capcut_mate.server.endpoints import Endpoint, EndpointGroup
from capcut_mate.server.http import json_response

STATIC = Path(__file__).with_name("static")
INDEX = Template((STATIC / "index.html").read_text(encoding="utf-8"))


async def index(request: web.Request) -> web.Response:
    """Where to start, with this service's own address in the examples."""
    origin = html.escape(f"{request.scheme}://{request.host}")
    return web.Response(text=INDEX.substitute(origin=origin), content_type="text/html",
                        headers={"Cache-Control": "no-cache"})


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI_DOCUMENT])


def _page(name: str):
    async def serve(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})

    return serve


GROUP = EndpointGroup(
    tag="pages",
    description="Documents and pages.",
    endpoints=[
        Endpoint("GET", "/", index, "Where to start: the dashboard, the API docs, the sample draft",
                 media_type="text/html"),
        Endpoint("GET", "/openapi.json", openapi_json, "This document (OpenAPI 3.1)"),
        Endpoint("GET", "/docs", _page("docs.html"), "A readable page of this document", media_type="text/html"),
        Endpoint("GET", "/dashboard", _page("dashboard.html"),
                 "The live dashboard (asks for an operator token, or takes #token=… in the URL)",
                 media_type="text/html"),
    ],
)
