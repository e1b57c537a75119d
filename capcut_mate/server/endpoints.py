"""Every route the service serves, described once: the router and /openapi.json are both
built from these tables, so the document cannot drift from what is served."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web
from pydantic import BaseModel

from capcut_mate.protocol.errors import ErrorKind
from capcut_mate.server.http import Handler


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # relative to its group's prefix; aiohttp syntax, e.g. /jobs/{job_id:\d+}
    handler: Handler
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    media_type: str = "application/json"  # of a success response
    errors: tuple[ErrorKind, ...] = ()
    description: str = ""
    # A body that is not a JSON model (a video upload): its OpenAPI `content` map.
    raw_body: dict | None = None


@dataclass(frozen=True)
class EndpointGroup:
    tag: str
    description: str
    endpoints: list[Endpoint]
    prefixes: tuple[str, ...] = ("",)
    # The security scheme of /openapi.json that guards the group, if any; guarded groups
    # are mounted as sub-applications whose middleware checks it.
    security: str | None = None
    middlewares: tuple = field(default=())

    def mount(self, app: web.Application, client_max_size: int) -> None:
        for prefix in self.prefixes:
            routes = [web.route(e.method, e.path, e.handler) for e in self.endpoints]
            if self.middlewares:
                sub = web.Application(middlewares=list(self.middlewares), client_max_size=client_max_size)
                sub.add_routes(routes)
                app.add_subapp(prefix, sub)
            else:
                app.add_routes(web.route(r.method, prefix + r.path, r.handler) for r in routes)
