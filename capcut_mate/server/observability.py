"""/metrics in the Prometheus format, /healthz and /readyz.

Counters and histograms are this process's own (scrape every service process). Gauges of
the whole queue are read from the database at scrape time.
"""

from __future__ import annotations

import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel

from capcut_mate.database.errors import is_database_error
from capcut_mate.database.migrations import head_revision
from capcut_mate.protocol.jobs import stage_for
from capcut_mate.server.app_keys import STORE, VIDEO_STORE
from capcut_mate.server.endpoints import Endpoint, EndpointGroup
from capcut_mate.server.http import Handler, model_response

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.jobs = Gauge("capcut_mate_jobs", "Jobs by status.", ["status"], registry=r)
        self.oldest_pending_age = Gauge(
            "capcut_mate_oldest_pending_job_age_seconds", "Age of the oldest pending job (0: none).", registry=r)
        self.agents_online = Gauge("capcut_mate_agents_online", "Agents seen in the last minute.", registry=r)
        self.agents_busy = Gauge("capcut_mate_agents_busy", "Agents running a job.", registry=r)
        self.claim_wait = Histogram(
            "capcut_mate_claim_wait_seconds", "From a job becoming claimable to its claim.", buckets=_SECONDS,
            registry=r)
        self.stage_duration = Histogram(
            "capcut_mate_stage_duration_seconds", "Time in a stage, one observation per visit, of completed attempts.",
            ["stage"], buckets=_SECONDS, registry=r)
        self.lease_expirations = Counter(
            "capcut_mate_lease_expirations_total", "Leases that ran out, by what became of the job.",
            ["outcome"], registry=r)
        self.retries = Counter(
            "capcut_mate_retries_total", "Retryable failures sent back to the queue.", registry=r)
        self.cancels = Counter("capcut_mate_cancels_total", "Cancel requests that took effect.", registry=r)
        self.video_uploads = Counter(
            "capcut_mate_video_uploads_total",
            "Video uploads by store, by way (through the service, or direct to the store) and outcome.",
            ["store", "via", "outcome"], registry=r)
        self.video_upload_bytes = Counter(
            "capcut_mate_video_upload_bytes_total", "Bytes of stored videos by store and way.", ["store", "via"],
            registry=r)
        self.requests = Counter(
            "capcut_mate_http_requests_total", "HTTP requests by route and status code.",
            ["route", "method", "code"], registry=r)
        self.request_seconds = Histogram(
            "capcut_mate_http_request_duration_seconds", "HTTP request time by route.", ["route"],
            buckets=_SECONDS, registry=r)

    def observe_stages(self, durations: list[tuple[int, float]]) -> None:
        for progress, seconds in durations:
            self.stage_duration.labels(stage_for(progress)).observe(seconds)

    async def refresh_gauges(self, store) -> None:
        for status, count in (await store.jobs_by_status()).items():
            self.jobs.labels(status).set(count)
        summary = await store.queue_summary()
        self.oldest_pending_age.set(summary["oldest_pending_seconds"] or 0)
        agents = await store.list_agents()
        self.agents_online.set(sum(agent.state in ("idle", "busy") for agent in agents))
        self.agents_busy.set(sum(agent.state == "busy" for agent in agents))


METRICS = web.AppKey("metrics", ServiceMetrics)


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    response = await handler(request)
    # The route's template, not the path: ids in paths would explode the label set.
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    metrics = request.config_dict[METRICS]
    metrics.requests.labels(route, request.method, str(response.status)).inc()
    metrics.request_seconds.labels(route).observe(time.perf_counter() - started)
    return response


async def metrics_page(request: web.Request) -> web.Response:
    metrics = request.config_dict[METRICS]
    try:
        await metrics.refresh_gauges(request.config_dict[STORE])
    except Exception as error:  # the process's own counters are still worth a scrape
        if not is_database_error(error):
            raise
    return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


class Health(BaseModel):
    status: str
    database: str | None = None
    schema_revision: str | None = None
    video_store: str | None = None  # "ok", or why the store cannot take a video


async def healthz(request: web.Request) -> web.Response:
    return model_response(Health(status="ok"), exclude_none=True)


async def readyz(request: web.Request) -> web.Response:
    try:
        revision = await request.config_dict[STORE].schema_revision()
    except Exception as error:
        if not is_database_error(error):
            raise
        return model_response(Health(status="unavailable", database="unreachable"), status=503, exclude_none=True)
    store_trouble = await request.config_dict[VIDEO_STORE].check()
    ready = revision == head_revision() and store_trouble is None
    body = Health(status="ok" if ready else "unavailable", database="reachable", schema_revision=revision,
                  video_store=store_trouble or "ok")
    return model_response(body, status=200 if ready else 503)


GROUP = EndpointGroup(
    tag="observability",
    description="For monitoring: Prometheus metrics, liveness and readiness.",
    endpoints=[
        Endpoint("GET", "/metrics", metrics_page, "Metrics in the Prometheus text format",
                 media_type=CONTENT_TYPE_LATEST.split(";")[0]),
        Endpoint("GET", "/healthz", healthz, "The process is up", response=Health),
        Endpoint("GET", "/readyz", readyz,
                 "The database is reachable, its schema at head and the video store writable (503 if not)",
                 response=Health),
    ],
)
