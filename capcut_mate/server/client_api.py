"""The client API of CONTRACT.md, served under both prefixes."""

from __future__ import annotations

from aiohttp import web

from capcut_mate.database.store import Job
from capcut_mate.protocol.client import CLIENT_PREFIXES, ActiveCountResponse, DraftRequest, GenVideoRequest, JobStatusResponse
from capcut_mate.protocol.errors import Errors, ServiceError
from capcut_mate.protocol.jobs import CANCELLED_MESSAGE, SUBMITTED_MESSAGE, SUCCESS_MESSAGE, JobStatus, format_timestamp
from capcut_mate.server.http import model_response, parse_body
from capcut_mate.server.keys import SETTINGS, STORE

CANCEL_REQUESTED_MESSAGE = "已请求取消，导出代理将停止该任务"


def render_job(job: Job, message: str) -> JobStatusResponse:
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
    return model_response(render_job(job, SUCCESS_MESSAGE))


async def gen_video_active_count(request: web.Request) -> web.Response:
    count = await request.config_dict[STORE].count_active_jobs()
    return model_response(ActiveCountResponse(message=SUCCESS_MESSAGE, count=count))


async def cancel_video(request: web.Request) -> web.Response:
    body = await parse_body(request, DraftRequest)
    job = await request.config_dict[STORE].cancel(body.draft_url)
    message = CANCELLED_MESSAGE if job.status is JobStatus.FAILED else CANCEL_REQUESTED_MESSAGE
    return model_response(render_job(job, message))


def routes() -> list[web.RouteDef]:
    table = []
    for prefix in CLIENT_PREFIXES:
        table += [
            web.post(f"{prefix}/gen_video", gen_video),
            web.post(f"{prefix}/gen_video_status", gen_video_status),
            web.get(f"{prefix}/gen_video_active_count", gen_video_active_count, allow_head=False),
            web.post(f"{prefix}/cancel_video", cancel_video),
        ]
    return table
