"""The export agent protocol (AGENT_PROTOCOL.md), mounted at /agent/v1 behind agent tokens."""

from __future__ import annotations

import asyncio

from aiohttp import web

from capcut_mate.protocol.agent import (
    AGENT_PREFIX,
    ClaimedJob,
    ClaimRequest,
    ClaimResponse,
    CompleteRequest,
    CompleteResponse,
    FailRequest,
    FailResponse,
    ProgressRequest,
    ProgressResponse,
    VideoUploadResponse,
)
from capcut_mate.protocol.errors import Errors, ServiceError
from capcut_mate.protocol.jobs import format_timestamp
from capcut_mate.server.agent_auth import AGENT, require_agent
from capcut_mate.server.http import MAX_BODY_BYTES, model_response, parse_body
from capcut_mate.server.keys import SETTINGS, STORE, VIDEO_STORE, WAKEUPS

JOB_ROUTE = r"/jobs/{job_id:\d{1,18}}"


def _job_id(request: web.Request) -> int:
    return int(request.match_info["job_id"])


def _attempt_param(request: web.Request) -> int:
    raw = request.query.get("attempt", "")
    if not raw.isdigit() or int(raw) < 1 or len(raw) > 9:
        raise ServiceError(Errors.VALIDATION_FAILED, "attempt: a positive integer query parameter is required")
    return int(raw)


async def claim(request: web.Request) -> web.Response:
    body = await parse_body(request, ClaimRequest)
    agent, store, wakeups = request[AGENT], request.config_dict[STORE], request.config_dict[WAKEUPS]
    lease_seconds = request.config_dict[SETTINGS].lease_seconds
    tags = sorted(set(agent.tags) | set(body.tags))
    await store.touch_agent(agent.id, version=body.version, hostname=body.hostname)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + body.wait
    async with wakeups.waiting(tags) as waiter:
        while True:
            jobs = await store.claim(agent.name, tags, max_jobs=body.max_jobs, lease_seconds=lease_seconds)
            remaining = deadline - loop.time()
            if jobs or remaining <= 0 or wakeups.closing:
                break
            await waiter.wait(min(remaining, wakeups.poll_interval))
            if request.transport is None or request.transport.is_closing():
                break  # the agent hung up: claim nothing it would never hear about
    return model_response(
        ClaimResponse(
            jobs=[
                ClaimedJob(
                    id=job.id,
                    attempt=job.attempt,
                    draft_url=job.draft_url,
                    draft_key=job.draft_key,
                    priority=job.priority,
                    requirements=job.requirements,
                    lease_seconds=lease_seconds,
                    lease_expires_at=format_timestamp(job.lease_expires_at),
                )
                for job in jobs
            ]
        )
    )


async def report_progress(request: web.Request) -> web.Response:
    body = await parse_body(request, ProgressRequest)
    agent, store = request[AGENT], request.config_dict[STORE]
    ack = await store.report_progress(
        _job_id(request),
        body.attempt,
        agent.name,
        progress=body.progress,
        stage=body.stage,
        message=body.message,
        lease_seconds=request.config_dict[SETTINGS].lease_seconds,
    )
    if agent.seen_long_ago:
        await store.touch_agent(agent.id)
    return model_response(ProgressResponse(lease_expires_at=format_timestamp(ack.lease_expires_at), cancel=ack.cancel))


async def upload_video(request: web.Request) -> web.Response:
    job_id, attempt = _job_id(request), _attempt_param(request)
    agent, store, videos = request[AGENT], request.config_dict[STORE], request.config_dict[VIDEO_STORE]
    if not await store.holds_lease(job_id, attempt, agent.name):
        raise ServiceError(Errors.LEASE_LOST)
    name = await videos.save(job_id, attempt, request.content)
    if not await store.holds_lease(job_id, attempt, agent.name):  # lost while uploading
        videos.delete(name)
        raise ServiceError(Errors.LEASE_LOST)
    base_url = request.config_dict[SETTINGS].public_url or str(request.url.origin())
    return model_response(VideoUploadResponse(video_url=videos.url_for(base_url, name)))


async def complete(request: web.Request) -> web.Response:
    body = await parse_body(request, CompleteRequest)
    status = await request.config_dict[STORE].complete(
        _job_id(request), body.attempt, request[AGENT].name, video_url=body.video_url
    )
    return model_response(CompleteResponse(status=status))


async def fail(request: web.Request) -> web.Response:
    body = await parse_body(request, FailRequest)
    outcome = await request.config_dict[STORE].fail(
        _job_id(request), body.attempt, request[AGENT].name, error_message=body.error_message,
        retryable=body.retryable,
    )
    response = FailResponse(status=outcome.status, retry_at=format_timestamp(outcome.retry_at))
    return model_response(response, exclude_none=True)


def create_agent_app() -> web.Application:
    app = web.Application(middlewares=[require_agent], client_max_size=MAX_BODY_BYTES)
    app.add_routes(
        [
            web.post("/claim", claim),
            web.post(JOB_ROUTE + "/progress", report_progress),
            web.put(JOB_ROUTE + "/video", upload_video),
            web.post(JOB_ROUTE + "/complete", complete),
            web.post(JOB_ROUTE + "/fail", fail),
        ]
    )
    return app


def mount(app: web.Application) -> None:
    app.add_subapp(AGENT_PREFIX, create_agent_app())
