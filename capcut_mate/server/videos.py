"""Stored videos, served back: GET /videos/{name}, the `video_url` of a job whose agent
uploaded its MP4 to this service's local video store; with an S3 store, a redirect to a
freshly signed URL of the object."""

from __future__ import annotations

from aiohttp import web

from capcut_mate.protocol.errors import Errors
from capcut_mate.server.app_keys import SETTINGS, VIDEO_STORE
from capcut_mate.server.endpoints import Endpoint, EndpointGroup


async def video(request: web.Request) -> web.StreamResponse:
    base_url = request.config_dict[SETTINGS].public_url or str(request.url.origin())
    return await request.config_dict[VIDEO_STORE].response_for(request.match_info["name"], base_url,
                                                               head=request.method == "HEAD")


GROUP = EndpointGroup(
    tag="videos",
    description="Videos the agents uploaded, served back.",
    endpoints=[
        Endpoint("GET", "/videos/{name}", video,
                 "A stored video (Range requests supported); with an S3 store, a redirect to it",
                 media_type="video/mp4", errors=(Errors.ROUTE_NOT_FOUND,)),
    ],
)
