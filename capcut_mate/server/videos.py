"""Stored videos, served back: GET /videos/{name}, the `video_url` of a job whose agent
uploaded its MP4 to this service's video store."""

from __future__ import annotations

import re

from aiohttp import web

from capcut_mate.protocol.errors import Errors, ServiceError
from capcut_mate.server.app_keys import VIDEO_STORE
from capcut_mate.server.endpoints import Endpoint, EndpointGroup

# Stored videos are named by the video store itself: <job>-<attempt>-<16 hex>.mp4.
VIDEO_NAME = re.compile(r"^\d{1,18}-\d{1,9}-[0-9a-f]{16}\.mp4$")


async def video(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = request.config_dict[VIDEO_STORE].folder / name
    if not VIDEO_NAME.match(name) or not path.is_file():
        raise ServiceError(Errors.ROUTE_NOT_FOUND, "no such video")
    return web.FileResponse(path, headers={"Content-Type": "video/mp4"})


GROUP = EndpointGroup(
    tag="videos",
    description="Videos the agents uploaded, served back.",
    endpoints=[
        Endpoint("GET", "/videos/{name}", video, "A stored video (Range requests supported)",
                 media_type="video/mp4", errors=(Errors.ROUTE_NOT_FOUND,)),
    ],
)
