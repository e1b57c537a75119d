"""The client API of CONTRACT.md, served under both prefixes."""

from __future__ import annotations

from aiohttp import web

from capcut_mate.protocol.client import (
    CLIENT_PREFIXES,
    ActiveCountResponse,
    DraftRequest,
    GenVideoRequest,
    JobStatusResponse,
)
from capcut_mate.protocol.errors import Errors, ServiceError
from capcut_mate.protocol.jobs import (
    CANCELLED_MESSAGE,
    SUBMITTED_MESSAGE,
    SUCCESS_MESSAGE,
    Job,
    JobStatus,
    format_timestamp,
)
from capcut_mate.server.app_keys import SETTINGS, STORE
from capcut_mate.server.client_guard import guard_client_routes
from capcut_mate.server.endpoints import Endpoint, EndpointGroup
from capcut_mate.server.eta import ETA
from capcut_mate.server.http import model_response, parse_body
from capcut_mate.server.observability import METRICS

CANCEL_REQUESTED_MESSAGE = "已请求取消，导出代理将停止该任务"


def render_job(job: Job, message: str, eta_seconds: int | None = None) -> JobStatusResponse:
    return JobStatusResponse(
        message=message,
        draft_url=job.draft_url,
        status=job.status,
        progress=job.progress,
        video_url=job.video_url or "",
        error_message=job.error_message or "",
        created_at=format_timestamp(job.created_at),
        started_at=format_timestamp(job.started_at),
        completed_at=format_timestamp(job.completed_at),
        job_id=job.id,
        stage=job.stage,
        cancel_requested=job.cancel_requested,
        eta_seconds=eta_seconds,
    )


async def gen_video(request: web.Request) -> web.Response:
    body = await parse_body(request, GenVideoRequest)
    settings = request.config_dict[SETTINGS]
    job, _created = await request.config_dict[STORE].submit(
        body.draft_url,
        priority=body.priority,
        requirements=body.requirements,
        max_attempts=settings.max_attempts,
    )
    return model_response(render_job(job, SUBMITTED_MESSAGE))


async def gen_video_status(request: web.Request) -> web.Response:
    body = await parse_body(request, DraftRequest)
    job = await request.config_dict[STORE].find_job_for_draft(body.draft_url)
    if job is None:
        raise ServiceError(Errors.TASK_NOT_FOUND)
    return model_response(render_job(job, SUCCESS_MESSAGE, request.config_dict[ETA].eta_seconds(job)))


async def gen_video_active_count(request: web.Request) -> web.Response:
    count = await request.config_dict[STORE].count_active_jobs()
    return model_response(ActiveCountResponse(message=SUCCESS_MESSAGE, count=count))


async def cancel_video(request: web.Request) -> web.Response:
    body = await parse_body(request, DraftRequest)
    job = await request.config_dict[STORE].cancel(body.draft_url)
    request.config_dict[METRICS].cancels.inc()
    message = CANCELLED_MESSAGE if job.status is JobStatus.FAILED else CANCEL_REQUESTED_MESSAGE
    return model_response(render_job(job, message))


_GUARD_ERRORS = (Errors.AUTHENTICATION_FAILED, Errors.RATE_LIMITED, Errors.PAYLOAD_TOO_LARGE)
_DRAFT_ERRORS = (*_GUARD_ERRORS, Errors.DRAFT_URL_REQUIRED, Errors.DRAFT_URL_INVALID, Errors.VALIDATION_FAILED,
                 Errors.DATABASE_UNAVAILABLE, Errors.QUERY_FAILED)

GROUP = EndpointGroup(
    tag="client",
    description="The capcut-mate client API (CONTRACT.md), under both prefixes.",
    prefixes=CLIENT_PREFIXES,
    middlewares=(guard_client_routes,),
    endpoints=[
        Endpoint("POST", "/gen_video", gen_video, "Submit a draft for export", body=GenVideoRequest,
                 response=JobStatusResponse, errors=_DRAFT_ERRORS,
                 description="A draft with an active job gets that job back; nothing new is queued."),
        Endpoint("POST", "/gen_video_status", gen_video_status, "Poll a draft's newest export",
                 body=DraftRequest, response=JobStatusResponse, errors=(*_DRAFT_ERRORS, Errors.TASK_NOT_FOUND)),
        Endpoint("GET", "/gen_video_active_count", gen_video_active_count, "Pending plus processing jobs",
                 response=ActiveCountResponse,
                 errors=(*_GUARD_ERRORS, Errors.DATABASE_UNAVAILABLE, Errors.QUERY_FAILED)),
        Endpoint("POST", "/cancel_video", cancel_video, "Cancel a draft's active job", body=DraftRequest,
                 response=JobStatusResponse,
                 errors=(*_DRAFT_ERRORS, Errors.TASK_NOT_FOUND, Errors.TASK_NOT_CANCELLABLE)),
    ],
)
