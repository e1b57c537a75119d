"""The export agent protocol (AGENT_PROTOCOL.md), mounted at /agent/v1 behind agent tokens."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from aiohttp import web

from capcut_mate.protocol.agent import (
    AGENT_PREFIX,
    ClaimRequest,
    ClaimResponse,
    CompleteRequest,
    CompleteResponse,
    DirectUploadAbort,
    DirectUploadAborted,
    DirectUploadDone,
    DirectUploadRequest,
    DirectUploadResponse,
    FailRequest,
    FailResponse,
    ProgressRequest,
    ProgressResponse,
    VideoUploadQuery,
    VideoUploadResponse,
)
from capcut_mate.protocol.errors import Errors, ServiceError
from capcut_mate.protocol.jobs import JobStatus, format_timestamp
from capcut_mate.server.app_keys import SETTINGS, STORE, VIDEO_STORE, WAKEUPS
from capcut_mate.server.auth import AGENT, require_agent
from capcut_mate.server.endpoints import Endpoint, EndpointGroup
from capcut_mate.server.http import job_id_param, model_response, parse_body, parse_query
from capcut_mate.server.observability import METRICS
from capcut_mate.server.video_store import StoredVideo, name_of_attempt, stored_name_in

log = logging.getLogger("capcut_mate.server.agent_api")

JOB_ROUTE = r"/jobs/{job_id:\d+}"


async def claim(request: web.Request) -> web.Response:
    body = await parse_body(request, ClaimRequest)
    agent, store = request[AGENT], request.config_dict[STORE]
    lease_seconds = request.config_dict[SETTINGS].lease_seconds
    await store.touch_agent(agent.id, version=body.version, hostname=body.hostname)
    jobs = await _claim_waiting(request, body, lease_seconds)
    for job in jobs:
        claimed_at = job.lease_expires_at - timedelta(seconds=lease_seconds)
        request.config_dict[METRICS].claim_wait.observe(max((claimed_at - job.run_after).total_seconds(), 0.0))
    return model_response(ClaimResponse(jobs=jobs))


async def _claim_waiting(request: web.Request, body: ClaimRequest, lease_seconds: int) -> list:
    """Claim now, or wait up to body.wait seconds for a wake-up (or the poll timer) and
    claim again. An agent that hangs up or is revoked while it waits takes nothing."""
    agent, store, wakeups = request[AGENT], request.config_dict[STORE], request.config_dict[WAKEUPS]
    tags = sorted(set(agent.tags) | set(body.tags))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + body.wait
    async with wakeups.waiting(tags) as waiter:
        while True:
            jobs = await store.claim(agent, tags, max_jobs=body.max_jobs, lease_seconds=lease_seconds)
            remaining = deadline - loop.time()
            if jobs or remaining <= 0 or wakeups.closing:
                break
            await waiter.wait(min(remaining, wakeups.poll_interval))
            if _hung_up(request) or not await store.agent_is_active(agent.id):
                return []
    if jobs and _hung_up(request):
        for job in jobs:  # the answer cannot arrive: give them straight back
            await store.expire_lease_now(job.id, job.attempt, agent)
        return []
    return jobs


def _hung_up(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


async def report_progress(request: web.Request) -> web.Response:
    body = await parse_body(request, ProgressRequest)
    agent, store = request[AGENT], request.config_dict[STORE]
    ack = await store.report_progress(
        job_id_param(request),
        body.attempt,
        agent,
        progress=body.progress,
        stage=body.stage,
        message=body.message,
        lease_seconds=request.config_dict[SETTINGS].lease_seconds,
    )
    if agent.seen_long_ago:
        await store.touch_agent(agent.id)
    return model_response(ProgressResponse(lease_expires_at=format_timestamp(ack.lease_expires_at), cancel=ack.cancel))


async def upload_video(request: web.Request) -> web.Response:
    job_id, attempt = job_id_param(request), parse_query(request, VideoUploadQuery).attempt
    agent, store, videos = request[AGENT], request.config_dict[STORE], request.config_dict[VIDEO_STORE]
    await store.fenced_job(job_id, attempt, agent)  # 404 / 409 before reading a byte
    try:
        stored = await videos.save(job_id, attempt, request.content)
    except Exception:
        request.config_dict[METRICS].video_uploads.labels(videos.kind, "service", "failed").inc()
        raise
    return await _stored(request, job_id, attempt, stored, "service")


async def begin_direct_upload(request: web.Request) -> web.Response:
    body = await parse_body(request, DirectUploadRequest)
    job_id, agent = job_id_param(request), request[AGENT]
    await request.config_dict[STORE].fenced_job(job_id, body.attempt, agent)
    return model_response(await request.config_dict[VIDEO_STORE].begin_direct(job_id, body.attempt, body.size))


async def finish_direct_upload(request: web.Request) -> web.Response:
    body = await parse_body(request, DirectUploadDone)
    job_id, agent, store = job_id_param(request), request[AGENT], request.config_dict[STORE]
    videos, metrics = request.config_dict[VIDEO_STORE], request.config_dict[METRICS]
    try:
        await store.fenced_job(job_id, body.attempt, agent)
    except ServiceError:  # the attempt is over: its parts can never become a job's video
        if name_of_attempt(body.name, job_id, body.attempt):
            with contextlib.suppress(ServiceError):
                await videos.abort_direct(body.name, body.upload_id)
        raise
    _check_name(body.name, job_id, body.attempt)
    try:
        stored = await videos.finish_direct(body.name, body.upload_id, body.size, body.parts)
    except Exception:
        metrics.video_uploads.labels(videos.kind, "direct", "failed").inc()
        raise
    return await _stored(request, job_id, body.attempt, stored, "direct")


async def abort_direct_upload(request: web.Request) -> web.Response:
    body = await parse_body(request, DirectUploadAbort)
    job_id = job_id_param(request)
    await request.config_dict[STORE].fenced_job(job_id, body.attempt, request[AGENT])
    _check_name(body.name, job_id, body.attempt)
    await request.config_dict[VIDEO_STORE].abort_direct(body.name, body.upload_id)
    return model_response(DirectUploadAborted(aborted=True))


def _check_name(name: str, job_id: int, attempt: int) -> None:
    if not name_of_attempt(name, job_id, attempt):  # only the attempt's own upload, never another's
        raise ServiceError(Errors.ROUTE_NOT_FOUND, "no such upload of this job's attempt")


async def _stored(request: web.Request, job_id: int, attempt: int, stored: StoredVideo, via: str) -> web.Response:
    """The upload is in the store: answer its video_url, unless the attempt ended meanwhile."""
    videos, metrics = request.config_dict[VIDEO_STORE], request.config_dict[METRICS]
    if not await request.config_dict[STORE].holds_lease(job_id, attempt, request[AGENT]):
        metrics.video_uploads.labels(videos.kind, via, "lease_lost").inc()
        try:
            await videos.delete(stored.name)
        except ServiceError as error:  # the agent's answer is about its lease, not the store
            log.warning("job %s attempt %s: its video stays in the store: %s", job_id, attempt, error.details)
        raise ServiceError(Errors.LEASE_LOST)
    metrics.video_uploads.labels(videos.kind, via, "stored").inc()
    metrics.video_upload_bytes.labels(videos.kind, via).inc(stored.size)
    base_url = request.config_dict[SETTINGS].public_url or str(request.url.origin())
    return model_response(VideoUploadResponse(video_url=await videos.url_for(base_url, stored.name)))


async def complete(request: web.Request) -> web.Response:
    body = await parse_body(request, CompleteRequest)
    store, job_id = request.config_dict[STORE], job_id_param(request)
    try:
        outcome = await store.complete(job_id, body.attempt, request[AGENT], video_url=body.video_url)
    except ServiceError as error:
        if error.kind is Errors.LEASE_LOST and await _video_is_nobodys(request, job_id, body):
            await _discard_video(request, job_id, body.attempt, body.video_url)
        raise
    if outcome.status is JobStatus.FAILED and not outcome.repeat:  # a cancel won over the video
        await _discard_video(request, job_id, body.attempt, body.video_url)
    if outcome.status is JobStatus.COMPLETED and not outcome.repeat:
        durations = await store.stage_durations_of_attempt(job_id, body.attempt)
        request.config_dict[METRICS].observe_stages(durations)
    return model_response(CompleteResponse(status=outcome.status))


async def _video_is_nobodys(request: web.Request, job_id: int, body: CompleteRequest) -> bool:
    """A refused complete's video goes only when the caller ran that attempt, the attempt is
    over, and the job does not show this very video: no other agent can remove it."""
    store = request.config_dict[STORE]
    if await store.agent_that_ended(job_id, body.attempt) != request[AGENT].name:
        return False
    job = await store.get_job(job_id)
    name = stored_name_in(body.video_url, job_id, body.attempt)
    return job is not None and (job.video_url is None or stored_name_in(job.video_url, job_id) != name)


async def _discard_video(request: web.Request, job_id: int, attempt: int, video_url: str) -> None:
    """Remove the video this attempt uploaded to the store, if the URL names one."""
    if stored_name_in(video_url, job_id, attempt) is None:
        return
    try:
        await request.config_dict[VIDEO_STORE].delete_videos_of([(job_id, video_url)])
    except ServiceError as error:  # the agent's answer is about its attempt, not the store
        log.warning("job %s attempt %s: its video stays in the store: %s", job_id, attempt, error.details)


async def fail(request: web.Request) -> web.Response:
    body = await parse_body(request, FailRequest)
    outcome = await request.config_dict[STORE].fail(
        job_id_param(request), body.attempt, request[AGENT], error_message=body.error_message,
        retryable=body.retryable,
    )
    if outcome.retry_at is not None:
        request.config_dict[METRICS].retries.inc()
    response = FailResponse(status=outcome.status, retry_at=format_timestamp(outcome.retry_at))
    return model_response(response, exclude_none=True)


# The upload's body: the video's bytes, at least one, under any Content-Type (agents send video/mp4).
VIDEO_BODY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary", "minLength": 1}}}
# What any agent call may answer, valid or not: every route has a body, which may be too
# large (413; extra fields are allowed) or too slow to arrive (408); and the database may be
# down (503) or a query fail (500).
_ALWAYS = (Errors.AUTHENTICATION_FAILED, Errors.VALIDATION_FAILED, Errors.PAYLOAD_TOO_LARGE, Errors.REQUEST_TIMEOUT,
           Errors.DATABASE_UNAVAILABLE, Errors.QUERY_FAILED)
_FENCED = (*_ALWAYS, Errors.LEASE_LOST, Errors.JOB_NOT_FOUND)

GROUP = EndpointGroup(
    tag="agent",
    description="The export agent protocol (AGENT_PROTOCOL.md). Every call needs an agent token.",
    prefixes=(AGENT_PREFIX,),
    security="agentToken",
    middlewares=(require_agent,),
    endpoints=[
        Endpoint("POST", "/claim", claim, "Claim jobs, waiting up to `wait` seconds for one",
                 body=ClaimRequest, response=ClaimResponse, errors=_ALWAYS),
        Endpoint("POST", JOB_ROUTE + "/progress", report_progress, "Report progress; extends the lease",
                 body=ProgressRequest, response=ProgressResponse, errors=(*_FENCED, Errors.PROGRESS_REGRESSION)),
        Endpoint("PUT", JOB_ROUTE + "/video", upload_video, "Upload the video (body: the MP4 bytes)",
                 query=VideoUploadQuery, response=VideoUploadResponse, raw_body=VIDEO_BODY,
                 errors=(*_FENCED, Errors.STORAGE_FAILED)),
        Endpoint("POST", JOB_ROUTE + "/video/direct", begin_direct_upload,
                 "Begin a direct upload: the parts to PUT to the store itself (none: use PUT …/video)",
                 body=DirectUploadRequest, response=DirectUploadResponse,
                 errors=(*_FENCED, Errors.STORAGE_FAILED)),
        Endpoint("POST", JOB_ROUTE + "/video/direct/complete", finish_direct_upload,
                 "Finish a direct upload once every part is in; answers the video_url",
                 body=DirectUploadDone, response=VideoUploadResponse,
                 errors=(*_FENCED, Errors.ROUTE_NOT_FOUND, Errors.STORAGE_FAILED)),
        Endpoint("POST", JOB_ROUTE + "/video/direct/abort", abort_direct_upload,
                 "Give up a direct upload: its parts are removed",
                 body=DirectUploadAbort, response=DirectUploadAborted,
                 errors=(*_FENCED, Errors.ROUTE_NOT_FOUND, Errors.STORAGE_FAILED)),
        Endpoint("POST", JOB_ROUTE + "/complete", complete, "Complete the attempt with its video",
                 body=CompleteRequest, response=CompleteResponse, errors=_FENCED),
        Endpoint("POST", JOB_ROUTE + "/fail", fail, "Fail the attempt; retryable ones go back to the queue",
                 body=FailRequest, response=FailResponse, errors=_FENCED),
    ],
)
