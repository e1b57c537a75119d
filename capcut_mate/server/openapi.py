"""/openapi.json, generated from the endpoint tables and their pydantic models."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from capcut_mate import __version__
from capcut_mate.protocol.errors import ErrorKind
from capcut_mate.server.endpoints import Endpoint, EndpointGroup

_PATH_PARAMETER = re.compile(r"\{(\w+)(?::([^}]*))?\}")
SECURITY_SCHEMES = {
    "agentToken": {"type": "http", "scheme": "bearer", "description": "An agent token (`capcut-mate agents add`)."},
    "operatorToken": {
        "type": "http", "scheme": "bearer", "description": "An operator token (`capcut-mate operators add`).",
    },
}


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: str


class ErrorBody(BaseModel):
    """Every error: the three client styles of CONTRACT.md at once."""

    code: int
    message: str
    detail: str
    error: ErrorDetail


def openapi_path(prefix: str, path: str) -> str:
    return _PATH_PARAMETER.sub(r"{\1}", prefix + path)


def _models(groups: list[EndpointGroup]) -> tuple[set[type[BaseModel]], set[type[BaseModel]]]:
    inputs, outputs = set(), {ErrorBody}
    for group in groups:
        for endpoint in group.endpoints:
            inputs.update(m for m in (endpoint.body, endpoint.query) if m)
            if endpoint.response:
                outputs.add(endpoint.response)
    return inputs, outputs


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": spec,
         **({"description": spec["description"]} if "description" in spec else {})}
        for name, spec in schema["properties"].items()
    ]


def _error_responses(errors: tuple[ErrorKind, ...]) -> dict[str, Any]:
    by_status: dict[int, list[ErrorKind]] = defaultdict(list)
    for kind in errors:
        by_status[kind.http_status].append(kind)
    return {
        str(status): {
            "description": "; ".join(f"{k.error_code} ({k.code}): {k.message_en}" for k in kinds),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        }
        for status, kinds in sorted(by_status.items())
    }


def _path_parameter(name: str, pattern: str) -> dict[str, Any]:
    schema = {"type": "integer", "minimum": 0} if pattern == r"\d+" else {"type": "string"}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _operation(group: EndpointGroup, endpoint: Endpoint, prefix: str, refs: dict) -> dict[str, Any]:
    parameters = [_path_parameter(name, pattern) for name, pattern in _PATH_PARAMETER.findall(endpoint.path)]
    if endpoint.query:
        parameters += _query_parameters(endpoint.query)
    if endpoint.response:
        schema = refs[(endpoint.response, "serialization")]
    else:
        schema = {"type": "object"} if endpoint.media_type == "application/json" else {"type": "string"}
    success = {endpoint.media_type: {"schema": schema}}
    operation: dict[str, Any] = {
        "tags": [group.tag],
        "summary": endpoint.summary,
        "operationId": f"{endpoint.method.lower()}_{openapi_path(prefix, endpoint.path)}".replace("/", "_")
        .replace("{", "").replace("}", "").replace("-", "_"),
        "responses": {"200": {"description": endpoint.summary, "content": success},
                      **_error_responses(endpoint.errors)},
    }
    if endpoint.description:
        operation["description"] = endpoint.description
    if parameters:
        operation["parameters"] = parameters
    if endpoint.raw_body:
        operation["requestBody"] = {"required": True, "content": endpoint.raw_body}
    if endpoint.body:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(endpoint.body, "validation")]}},
        }
    if group.security:
        operation["security"] = [{group.security: []}]
    return operation


def build_document(groups: list[EndpointGroup]) -> dict[str, Any]:
    inputs, outputs = _models(groups)
    keys = [(m, "validation") for m in inputs] + [(m, "serialization") for m in outputs]
    refs, definitions = models_json_schema(keys, ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = defaultdict(dict)
    for group in groups:
        for prefix in group.prefixes:
            for endpoint in group.endpoints:
                paths[openapi_path(prefix, endpoint.path)][endpoint.method.lower()] = _operation(
                    group, endpoint, prefix, refs
                )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "capcut-mate video jobs",
            "version": __version__,
            "description": "Export jobs for capcut-mate drafts: the client API, the export agent protocol, "
            "operations and monitoring.",
        },
        "tags": [{"name": g.tag, "description": g.description} for g in groups],
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": definitions.get("$defs", {}), "securitySchemes": SECURITY_SCHEMES},
    }
