"""Sample drafts that ship with the package, served the way capcut-mate serves drafts.

`GET /samples/get_draft?draft_id=demo` answers `{"code": 0, "files": [URL, …]}` with every
file of capcut_mate/samples/demo/, which `/samples/files/demo/…` serves: a draft URL that
needs no draft of your own, for the quick start and for trying an exporter. The URLs start
with CAPCUT_MATE_PUBLIC_URL when set, else with the origin the request came to.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from aiohttp import web
from pydantic import BaseModel, Field

from capcut_mate.protocol.errors import Errors, ServiceError
from capcut_mate.protocol.jobs import SUCCESS_MESSAGE
from capcut_mate.server.app_keys import SETTINGS
from capcut_mate.server.endpoints import Endpoint, EndpointGroup
from capcut_mate.server.http import model_response, parse_query

SAMPLES_FOLDER = Path(__file__).resolve().parent.parent / "samples"
FILES_ROUTE = "/samples/files"


class SampleDraftQuery(BaseModel):
    draft_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="A sample's name, e.g. demo")


class SampleDraftFiles(BaseModel):
    code: int = 0
    message: str = SUCCESS_MESSAGE
    files: list[str] = Field(description="Absolute URLs of every file of the draft folder")


async def get_draft(request: web.Request) -> web.Response:
    name = parse_query(request, SampleDraftQuery).draft_id
    folder = SAMPLES_FOLDER / name
    if not folder.is_dir():
        raise ServiceError(Errors.ROUTE_NOT_FOUND, "no such sample draft")
    base = (request.config_dict[SETTINGS].public_url or str(request.url.origin())).rstrip("/")
    files = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    return model_response(SampleDraftFiles(files=[f"{base}{FILES_ROUTE}/{name}/{quote(file)}" for file in files]))


async def get_file(request: web.Request) -> web.FileResponse:
    root = SAMPLES_FOLDER.resolve()
    try:
        path = (root / request.match_info["name"] / request.match_info["path"]).resolve()
        found = path.is_relative_to(root) and path.is_file()
    except (OSError, ValueError):  # a name the OS refuses to look up (a NUL, too long, …) names no file
        found = False
    if not found:
        raise ServiceError(Errors.ROUTE_NOT_FOUND, "no such sample file")
    return web.FileResponse(path)


GROUP = EndpointGroup(
    tag="samples",
    description="Sample drafts shipped with the service, in capcut-mate's get_draft shape.",
    endpoints=[
        Endpoint("GET", "/samples/get_draft", get_draft, "A sample draft's files, as capcut-mate's get_draft answers",
                 query=SampleDraftQuery, response=SampleDraftFiles,
                 errors=(Errors.VALIDATION_FAILED, Errors.ROUTE_NOT_FOUND)),
        Endpoint("GET", FILES_ROUTE + "/{name}/{path:.+}", get_file, "A file of a sample draft",
                 media_type="application/octet-stream", errors=(Errors.ROUTE_NOT_FOUND,)),
    ],
)
