"""The operations API, mounted at /api/v1 behind operator tokens."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from capcut_mate.database.store import AgentSummary
from capcut_mate.protocol.errors import Errors
from capcut_mate.protocol.jobs import Job, format_timestamp
from capcut_mate.protocol.operations import (
    OPERATIONS_PREFIX,
    AgentList,
    AgentView,
    JobDetail,
    JobEvent,
    JobList,
    JobListQuery,
    QueueSummary,
    Report,
    ReportQuery,
    RetryResult,
    parse_duration,
)
from capcut_mate.reporting import build_report
from capcut_mate.server.app_keys import SETTINGS, STORE
from capcut_mate.server.auth import require_operator
from capcut_mate.server.endpoints import Endpoint, EndpointGroup
from capcut_mate.server.http import job_id_param, model_response, parse_query
from capcut_mate.server.observability import METRICS

JOB_ROUTE = r"/jobs/{job_id:\d+}"


def agent_view(agent: AgentSummary) -> AgentView:
    return AgentView(
        name=agent.name, state=agent.state, running_jobs=agent.running_jobs, tags=agent.tags,
        version=agent.version, hostname=agent.hostname, created_at=format_timestamp(agent.created_at),
        last_seen_at=format_timestamp(agent.last_seen_at), revoked_at=format_timestamp(agent.revoked_at),
    )


async def list_jobs(request: web.Request) -> web.Response:
    query = parse_query(request, JobListQuery)
    jobs = await request.config_dict[STORE].list_jobs(
        status=query.status, agent=query.agent, draft=query.draft, created_from=query.created_from,
        created_before=query.created_before, before_id=int(query.cursor) if query.cursor else None,
        limit=query.limit + 1,  # one more tells whether another page follows
    )
    page = jobs[: query.limit]
    next_cursor = str(page[-1].id) if len(jobs) > query.limit else None
    return model_response(JobList(jobs=page, next_cursor=next_cursor))


async def get_job(request: web.Request) -> web.Response:
    store = request.config_dict[STORE]
    job = await store.require_job(job_id_param(request))
    events = await store.job_events(job.id)
    return model_response(
        JobDetail(
            job=job,
            events=[JobEvent(**{**event, "at": format_timestamp(event["at"])}) for event in events],
        )
    )


async def cancel_job(request: web.Request) -> web.Response:
    job = await request.config_dict[STORE].cancel_job(job_id_param(request))
    request.config_dict[METRICS].cancels.inc()
    return model_response(job)


async def retry_job(request: web.Request) -> web.Response:
    job, created = await request.config_dict[STORE].retry(
        job_id_param(request), max_attempts=request.config_dict[SETTINGS].max_attempts
    )
    return model_response(RetryResult(job=job, created=created))


async def list_agents(request: web.Request) -> web.Response:
    agents = await request.config_dict[STORE].list_agents()
    return model_response(AgentList(agents=[agent_view(agent) for agent in agents]))


async def queue_summary(request: web.Request) -> web.Response:
    store = request.config_dict[STORE]
    summary = await store.queue_summary()
    agents = await store.list_agents()
    return model_response(
        QueueSummary(
            **summary,
            agents_online=sum(agent.state in ("idle", "busy") for agent in agents),
            agents_busy=sum(agent.state == "busy" for agent in agents),
        )
    )


async def report(request: web.Request) -> web.Response:
    query = parse_query(request, ReportQuery)
    since = datetime.now(UTC) - parse_duration(query.since)
    return model_response(await build_report(request.config_dict[STORE], since))


_ALWAYS = (Errors.AUTHENTICATION_FAILED, Errors.PERMISSION_DENIED, Errors.DATABASE_UNAVAILABLE)

GROUP = EndpointGroup(
    tag="operations",
    description="For operators: jobs, agents, the queue and reports. Every call needs an operator token.",
    prefixes=(OPERATIONS_PREFIX,),
    security="operatorToken",
    middlewares=(require_operator,),
    endpoints=[
        Endpoint("GET", "/jobs", list_jobs, "Jobs, newest first, with filters and cursor pages",
                 query=JobListQuery, response=JobList, errors=(*_ALWAYS, Errors.VALIDATION_FAILED)),
        Endpoint("GET", JOB_ROUTE, get_job, "One job with its full event timeline", response=JobDetail,
                 errors=(*_ALWAYS, Errors.JOB_NOT_FOUND)),
        Endpoint("POST", JOB_ROUTE + "/cancel", cancel_job, "Cancel a pending or processing job",
                 response=Job, errors=(*_ALWAYS, Errors.JOB_NOT_FOUND, Errors.TASK_NOT_CANCELLABLE)),
        Endpoint("POST", JOB_ROUTE + "/retry", retry_job, "Run a failed job's draft again, as a new job",
                 response=RetryResult, errors=(*_ALWAYS, Errors.JOB_NOT_FOUND, Errors.JOB_NOT_RETRYABLE)),
        Endpoint("GET", "/agents", list_agents, "Export agents with their state", response=AgentList,
                 errors=_ALWAYS),
        Endpoint("GET", "/queue", queue_summary, "The queue right now", response=QueueSummary, errors=_ALWAYS),
        Endpoint("GET", "/report", report, "The figures of `capcut-mate report`", query=ReportQuery,
                 response=Report, errors=(*_ALWAYS, Errors.VALIDATION_FAILED)),
    ],
)
