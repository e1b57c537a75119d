"""/openapi.json: valid OpenAPI, and exactly the routes the service serves."""

from __future__ import annotations

from aiohttp import web
from openapi_spec_validator import validate

from capcut_mate.server.app import create_app


def served_routes(app: web.Application) -> set[tuple[str, str]]:
    """(METHOD, path) of every route, sub-applications included (their resources carry the
    mount prefix already); HEAD rides with GET."""
    routes = set()
    for resource in app.router.resources():
        if isinstance(resource, web.PrefixedSubAppResource):
            routes |= served_routes(resource._app)
            continue
        for route in resource:
            if route.method not in ("HEAD", "*"):
                routes.add((route.method, resource.canonical))
    return routes


def documented_routes(document: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, methods in document["paths"].items() for method in methods}


async def test_the_document_is_valid_openapi(client):
    response = await client.get("/openapi.json")
    assert response.status == 200
    document = await response.json()
    validate(document)
    assert document["openapi"].startswith("3.")


async def test_the_document_lists_every_route_the_app_serves(client, settings):
    document = await (await client.get("/openapi.json")).json()
    served = served_routes(create_app(settings, settings.database_url))
    assert served == documented_routes(document)
    for expected in [
        ("POST", "/v1/gen_video_status"), ("POST", "/openapi/capcut-mate/v1/gen_video"),
        ("POST", "/agent/v1/claim"), ("PUT", "/agent/v1/jobs/{job_id}/video"),
        ("GET", "/api/v1/jobs/{job_id}"), ("GET", "/metrics"), ("GET", "/dashboard"), ("GET", "/videos/{name}"),
    ]:
        assert expected in served


async def test_operations_carry_their_models_errors_and_security(client):
    document = await (await client.get("/openapi.json")).json()
    status = document["paths"]["/v1/gen_video_status"]["post"]
    assert status["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("DraftRequest")
    assert {"200", "400", "404", "500", "503"} <= set(status["responses"])
    fields = document["components"]["schemas"]["JobStatusResponse"]["properties"]
    for field in ("draft_url", "status", "progress", "video_url", "error_message", "created_at", "started_at",
                  "completed_at", "eta_seconds"):
        assert field in fields
    assert document["paths"]["/agent/v1/claim"]["post"]["security"] == [{"agentToken": []}]
    assert document["paths"]["/api/v1/queue"]["get"]["security"] == [{"operatorToken": []}]
    assert "security" not in status
    listing = document["paths"]["/api/v1/jobs"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {
        "status", "agent", "draft", "created_from", "created_before", "cursor", "limit"
    }


async def test_the_docs_page_renders_the_document(client):
    response = await client.get("/docs")
    assert response.status == 200 and response.content_type == "text/html"
    assert "/openapi.json" in await response.text()


async def test_every_agent_route_documents_every_answer_a_valid_call_can_get(client):
    """Whatever its body: too large (413, extra fields are allowed), too slow (408), the
    database down (503) or a query failed (500); progress below the job's (400
    PROGRESS_REGRESSION); a lease lost (409) or no such job (404) on the job routes."""
    document = await (await client.get("/openapi.json")).json()
    agent_routes = {path: methods for path, methods in document["paths"].items() if path.startswith("/agent/")}
    assert len(agent_routes) == 8
    for path, methods in agent_routes.items():
        expected = {"200", "400", "401", "408", "413", "500", "503"} | ({"404", "409"} if "{job_id}" in path else set())
        for operation in methods.values():
            assert expected <= set(operation["responses"]), path
    progress = agent_routes["/agent/v1/jobs/{job_id}/progress"]["post"]["responses"]["400"]["description"]
    assert "PROGRESS_REGRESSION" in progress
