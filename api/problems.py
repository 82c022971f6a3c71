"""Errors as problem details (RFC 9457, ``application/problem+json``).

Every error the API returns, its own or FastAPI's and Starlette's, is a
problem: ``type``, ``title``, ``status``, ``detail`` (what was wrong and how
to fix it) and ``instance`` (the request path). Problems about one request
parameter also name it in ``parameter``; request-validation problems list
each offending parameter in ``errors``.

CampusLab's own problem types are relative URIs, ``/api/v1/problems/<name>``,
that resolve against the API to a page describing the type. Plain HTTP errors
(an unknown route, a wrong method, a server fault) use ``about:blank``, whose
title is the HTTP status phrase (RFC 9457 §4.2.1).

An unexpected exception never reaches the client as a stack trace: it is
logged with a reference, and the client gets a 500 problem quoting it.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "/api/v1/problems/"

log = logging.getLogger("campuslab.api")


@dataclass(frozen=True)
class ProblemType:
    name: str
    title: str
    status: int
    description: str

    @property
    def uri(self) -> str:
        return PROBLEM_TYPE_PREFIX + self.name


PROBLEM_TYPES: dict[str, ProblemType] = {
    p.name: p
    for p in (
        ProblemType(
            "unknown-space",
            "Unknown space",
            404,
            "The space id in the path is not in the campus registry. "
            "GET /api/v1/spaces lists the spaces.",
        ),
        ProblemType(
            "invalid-parameter",
            "Invalid parameter",
            422,
            "A query or path parameter has a value the API cannot use. The detail names the "
            "parameter, says what was wrong and gives an example of a valid value.",
        ),
        ProblemType(
            "range-too-long",
            "Time range too long",
            422,
            "The time range asks for more history than one request may return. Raw readings "
            "are limited to 31 days, resampled series and utilisation to 366 days. Resample "
            "with every= (e.g. every=1h) or split the range.",
        ),
        ProblemType(
            "too-many-points",
            "Too many points",
            422,
            "The answer would hold more points than one response may carry. Resample with "
            "every= (e.g. every=15m), choose a coarser interval, or narrow the range.",
        ),
        ProblemType(
            "unauthorized",
            "API key required",
            401,
            "The route needs an API key and none was sent, or the key sent is malformed, "
            "unknown or revoked. Send 'Authorization: Bearer <key>'; an operator creates keys "
            "with `campuslab keys create --role R --name N`. `required_role` names the role "
            "the route needs, when that is the reason.",
        ),
        ProblemType(
            "forbidden",
            "Role not allowed",
            403,
            "The API key is valid, but its role may not use this route. Roles are ordered "
            "public < researcher < planner < facilities (admin may do everything); "
            "`required_role` names the lowest role the route admits.",
        ),
        ProblemType(
            "unknown-key",
            "Unknown API key",
            404,
            "No API key has the id in the path. GET /api/v1/keys lists the keys.",
        ),
        ProblemType(
            "no-data",
            "No data in the period",
            404,
            "The store holds no reading for the scope in the period asked for, so there is "
            "nothing to report (a report of zeros would mislead). `requested_start` and "
            "`requested_end` give the period as resolved, UTC: check it (a bare date is the "
            "site's local midnight), or that ingest is running.",
        ),
        ProblemType(
            "store-unavailable",
            "Store unavailable",
            503,
            "The time-series store behind the API did not answer. The reason is in the "
            "server log; the health endpoint reports it until the store is back.",
        ),
    )
}


class Problem(BaseModel):
    """An error, as RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(
        default="about:blank",
        description="URI identifying the problem type; CampusLab's own resolve to a description",
        examples=["/api/v1/problems/invalid-parameter"],
    )
    title: str = Field(
        description="short summary of the problem type", examples=["Invalid parameter"]
    )
    status: int = Field(description="HTTP status code", examples=[422])
    detail: str = Field(
        description="what was wrong in this request and how to fix it",
        examples=["quantity 'co3' is not known; use one of: occupancy, co2, temperature, humidity"],
    )
    instance: str | None = Field(
        default=None, description="the request path", examples=["/api/v1/spaces/rfb-101/readings"]
    )
    parameter: str | None = Field(
        default=None,
        description="the offending parameter, when there is one",
        examples=["quantity"],
    )


class ParameterError(BaseModel):
    parameter: str = Field(description="name of the parameter, e.g. 'start'")
    location: str = Field(description="where it was sent: query, path, header or body")
    detail: str


class ValidationProblem(Problem):
    errors: list[ParameterError] = Field(default_factory=list)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting problem answers for the given statuses."""
    described = {
        401: "No API key, or not a valid one",
        403: "The API key's role may not use this route",
        404: "Unknown space",
        422: "A parameter is missing or invalid; the detail names it and how to fix it",
        500: "Unexpected server error (logged; the answer quotes a reference)",
        503: "The store does not answer",
    }
    return {
        status: {
            "model": ValidationProblem if status == 422 else Problem,
            "description": described.get(status, HTTPStatus(status).phrase),
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
        for status in statuses
    }


class ApiProblem(Exception):
    """Raised by routes and dependencies; rendered as problem details."""

    def __init__(
        self,
        kind: str,
        detail: str,
        *,
        parameter: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.kind = PROBLEM_TYPES[kind]
        self.detail = detail
        self.parameter = parameter
        self.headers = headers
        self.extensions = extensions


def invalid_parameter(parameter: str, detail: str) -> ApiProblem:
    return ApiProblem("invalid-parameter", detail, parameter=parameter)


def shown(value: object, limit: int = 60) -> str:
    """``value`` quoted for an error message, cut short so garbage does not fill the answer."""
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return repr(text)


def problem_response(
    status: int,
    detail: str,
    *,
    instance: str | None,
    type_: str = "about:blank",
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or _phrase(status),
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    body.update({k: v for k, v in extensions.items() if v is not None})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


async def _api_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    return problem_response(
        exc.kind.status,
        exc.detail,
        instance=request.url.path,
        type_=exc.kind.uri,
        title=exc.kind.title,
        headers=exc.headers,
        parameter=exc.parameter,
        **exc.extensions,
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _http_detail(request: Request, exc: StarletteHTTPException) -> str:
    if isinstance(exc.detail, str) and exc.detail != _phrase(exc.status_code):
        return exc.detail
    if exc.status_code == 404:
        return (
            "no such resource; the API lives under /api/v1 (GET /api/v1/spaces lists the "
            "spaces) and its documentation at /docs"
        )
    if exc.status_code == 405:
        allowed = {k.lower(): v for k, v in (exc.headers or {}).items()}.get("allow")
        suffix = f"; allowed: {allowed}" if allowed else ""
        return f"method {request.method} is not allowed on {request.url.path}{suffix}"
    return _phrase(exc.status_code).lower()


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem_response(
        exc.status_code, _http_detail(request, exc), instance=request.url.path, headers=exc.headers
    )


def _parameter_name(loc: tuple[Any, ...]) -> tuple[str, str]:
    location = str(loc[0]) if loc else "request"
    name = ".".join(str(p) for p in loc[1:]) or location
    return location, name


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        location, name = _parameter_name(tuple(error.get("loc", ())))
        if error.get("type") == "missing":
            message = f"{location} parameter {name!r} is required"
        else:
            given = f" (got {shown(error['input'])})" if "input" in error else ""
            message = f"{location} parameter {name!r}: {error.get('msg', 'invalid')}{given}"
        errors.append({"parameter": name, "location": location, "detail": message})
    detail = "; ".join(e["detail"] for e in errors) or "the request is invalid"
    parameter = errors[0]["parameter"] if len(errors) == 1 else None
    return problem_response(
        422,
        detail,
        instance=request.url.path,
        type_=PROBLEM_TYPES["invalid-parameter"].uri,
        title=PROBLEM_TYPES["invalid-parameter"].title,
        parameter=parameter,
        errors=errors,
    )


class UnexpectedErrorAsProblem:
    """ASGI middleware: an unhandled exception becomes a logged 500 problem, not a trace.

    It sits inside Starlette's ServerErrorMiddleware so that the exception is
    logged once, here, with a reference the client can quote.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            reference = uuid.uuid4().hex[:12]
            log.exception(
                "unhandled error in %s %s (reference %s)",
                scope.get("method"),
                scope.get("path"),
                reference,
            )
            if started:
                raise
            response = problem_response(
                500,
                f"an unexpected error occurred; it has been logged with reference {reference}",
                instance=scope.get("path"),
                reference=reference,
            )
            await response(scope, receive, send)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiProblem, _api_problem)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_middleware(UnexpectedErrorAsProblem)
    document_problems_as_problem_json(app)


def document_problems_as_problem_json(app: FastAPI) -> None:
    """Make OpenAPI show problem schemas under application/problem+json, as they are sent.

    FastAPI puts a ``responses=`` model under application/json; this moves it.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for response in operation.get("responses", {}).values():
                    content = response.get("content", {})
                    if PROBLEM_MEDIA_TYPE in content and "application/json" in content:
                        content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
