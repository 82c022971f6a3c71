"""Who is calling: API keys (``Authorization: Bearer <key>``) mapped to roles.

Routes state what they need with a dependency::

    @router.get("/exports", dependencies=[Depends(require_role(Role.RESEARCHER))])
    def export(...): ...

    # or, when the route needs to know the caller (e.g. for privacy suppression):
    def series(principal: Annotated[Principal, Depends(require_role(Role.RESEARCHER))]):
        if not principal.sees_unsuppressed: ...

A route without ``require_role`` is public. ``current_principal`` gives the
caller on any route (``Principal.PUBLIC`` when no key was sent); ``create_app``
runs it for every route, so a key that is sent is always checked.

- No key on a route that needs one: 401 problem with ``WWW-Authenticate: Bearer``.
- A key that is malformed, unknown or revoked: 401 on every route, public ones
  too (a client sending a key expects it to count; silently serving it as
  public would hide the mistake).
- A valid key whose role is too low: 403 problem.

Every refusal is counted in ``campuslab_api_auth_failures_total{reason}``
and logged with the key's id when there is one, never the key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, ClassVar

import fastapi.routing
from fastapi import Depends, FastAPI, Request, Security
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry, Counter

from campuslab.api.keys import KeyRejected, KeyStore, Role
from campuslab.api.problems import PROBLEM_MEDIA_TYPE, ApiProblem

log = logging.getLogger("campuslab.api.security")

SECURITY_SCHEME = "bearerAuth"
bearer_scheme = HTTPBearer(
    scheme_name=SECURITY_SCHEME,
    bearerFormat="CampusLab API key (clk_...)",
    description="An API key, created with `campuslab keys create --role R --name N` or "
    "POST /api/v1/keys (admin), sent as `Authorization: Bearer <key>`. Roles: researcher "
    "(series, KPIs, exports; privacy-suppressed), planner (as researcher, plus reports and "
    "recommendations), facilities (everything, unsuppressed, plus data quality and dead "
    "letters), admin (key management, and everything facilities sees).",
    auto_error=False,
)

AUTH_FAILURE_REASONS = ("missing", "malformed", "unknown", "revoked", "insufficient_role")


class AuthMetrics:
    """``campuslab_api_auth_failures_total{reason}``, in the API's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.failures = Counter(
            "campuslab_api_auth_failures_total",
            "Requests refused for want of a valid API key (401) or of a high enough role (403)",
            ["reason"],
            registry=registry,
        )
        for reason in AUTH_FAILURE_REASONS:
            self.failures.labels(reason)


@dataclass(frozen=True)
class Principal:
    """The caller: a role, and the id and name of the key it came with (None when public)."""

    role: Role
    key_id: str | None = None
    key_name: str | None = None

    PUBLIC: ClassVar[Principal]

    @property
    def sees_unsuppressed(self) -> bool:
        """True for facilities (and admin): counts 1..k-1 are shown, not suppressed."""
        return self.role.includes(Role.FACILITIES)

    def may(self, minimum: Role) -> bool:
        return self.role.includes(minimum)

    def describe(self) -> str:
        return "no key (public)" if self.key_id is None else f"key {self.key_id} ({self.role})"


Principal.PUBLIC = Principal(Role.PUBLIC)


def _refuse(
    request: Request, status: int, reason: str, detail: str, key_id: str | None = None, **extra: Any
) -> ApiProblem:
    metrics: AuthMetrics | None = getattr(request.app.state, "auth_metrics", None)
    if metrics is not None:
        metrics.failures.labels(reason).inc()
    log.warning(
        "refused %s %r: %s (key id %s)",
        request.method,
        request.url.path,
        reason,
        key_id or "-",
    )
    if status == 401:
        challenge = 'Bearer realm="campuslab"'
        if reason != "missing":
            challenge += ', error="invalid_token"'
        return ApiProblem("unauthorized", detail, headers={"WWW-Authenticate": challenge}, **extra)
    challenge = 'Bearer realm="campuslab", error="insufficient_scope"'
    return ApiProblem("forbidden", detail, headers={"WWW-Authenticate": challenge}, **extra)


_REJECTION_DETAIL = {
    "malformed": "the Authorization header does not hold a CampusLab API key; send "
    "'Authorization: Bearer clk_...' with a key from `campuslab keys create`",
    "unknown": "the API key is not valid; check that it was copied whole, or ask an "
    "operator for a new one (`campuslab keys create`)",
    "revoked": "the API key has been revoked; ask an operator for a new one",
}


def current_principal(request: Request) -> Principal:
    """The caller, from ``Authorization: Bearer <key>``; PUBLIC when no header is sent.

    A header that is sent but is not a valid, unrevoked key is a 401 problem.
    """
    headers = request.headers.getlist("authorization")
    if not headers:
        return Principal.PUBLIC
    scheme, _, secret = headers[0].strip().partition(" ")
    keys: KeyStore | None = request.app.state.keys
    if len(headers) != 1 or scheme.lower() != "bearer" or not secret.strip():
        raise _refuse(request, 401, "malformed", _REJECTION_DETAIL["malformed"])
    if keys is None:
        raise _refuse(request, 401, "unknown", _REJECTION_DETAIL["unknown"])
    try:
        key = keys.verify(secret.strip())
    except KeyRejected as rejected:
        reason = rejected.reason.value
        raise _refuse(request, 401, reason, _REJECTION_DETAIL[reason], rejected.key_id) from None
    return Principal(key.role, key.id, key.name)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


class RoleRequirement:
    """The dependency ``require_role`` returns; OpenAPI shows the bearer scheme for it."""

    def __init__(self, minimum: Role) -> None:
        self.minimum = minimum

    def __repr__(self) -> str:
        return f"require_role({self.minimum.value})"

    def __call__(
        self,
        request: Request,
        principal: PrincipalDep,
        # declares the security scheme on the route in OpenAPI; the header is read above
        _credentials: Annotated[
            HTTPAuthorizationCredentials | None, Security(bearer_scheme)
        ] = None,
    ) -> Principal:
        if principal.may(self.minimum):
            return principal
        needed = _needed(self.minimum)
        route = f"{request.method} {request.url.path}"
        if principal.key_id is None:
            raise _refuse(
                request,
                401,
                "missing",
                f"{route} needs an API key with role {needed}; send it as "
                "'Authorization: Bearer <key>' (an operator creates one with "
                "`campuslab keys create`)",
                required_role=self.minimum.value,
            )
        raise _refuse(
            request,
            403,
            "insufficient_role",
            f"{route} needs role {needed}; key {principal.key_id} has role {principal.role}",
            principal.key_id,
            required_role=self.minimum.value,
        )


def _needed(minimum: Role) -> str:
    return minimum.value if minimum is Role.ADMIN else f"{minimum.value} or higher"


@cache
def require_role(minimum: Role) -> RoleRequirement:
    """A dependency that lets callers with role ``minimum`` or higher through, giving their
    Principal; 401 without a key, 403 with a key of a lower role."""
    return RoleRequirement(Role(minimum))


# For routes that need the caller: ``def export(principal: ResearcherDep): ...``
ResearcherDep = Annotated[Principal, Depends(require_role(Role.RESEARCHER))]
PlannerDep = Annotated[Principal, Depends(require_role(Role.PLANNER))]
FacilitiesDep = Annotated[Principal, Depends(require_role(Role.FACILITIES))]
AdminDep = Annotated[Principal, Depends(require_role(Role.ADMIN))]


# -- OpenAPI: what each operation needs ---------------------------------------------------


def api_routes(app: FastAPI) -> list[Any]:
    """The app's API routes, as FastAPI runs them: with the dependencies that
    ``include_router(dependencies=...)`` and the app add (FastAPI 0.16x keeps included
    routers as wrappers in ``app.routes``; ``iter_route_contexts`` unwraps them)."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    if iterate is None:
        return [r for r in app.routes if isinstance(r, APIRoute)]
    return [c for c in iterate(app.routes) if isinstance(c.original_route, APIRoute)]


def _dependency_calls(route: Any) -> list[Any]:
    calls, pending = [], list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        calls.append(dependant.call)
        pending.extend(dependant.dependencies)
    return calls


def required_role(route: Any) -> Role | None:
    """The highest role a route's dependencies require; None when it is public."""
    roles = [c.minimum for c in _dependency_calls(route) if isinstance(c, RoleRequirement)]
    return max(roles, key=lambda r: r.rank) if roles else None


def document_security(app: FastAPI) -> None:
    """Mark each operation's role in OpenAPI (``x-required-role``, a line in the
    description, 401/403 problem answers); public routes, where a key is optional but
    checked when sent (``current_principal``), get ``security: [{}, {bearerAuth: []}]``."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {})
        schemes = components.setdefault("securitySchemes", {})
        schemes.setdefault(SECURITY_SCHEME, bearer_scheme.model.model_dump(by_alias=True))
        problem = {"$ref": "#/components/schemas/Problem"}
        for route in api_routes(app):
            if not route.include_in_schema:
                continue
            operations = schema.get("paths", {}).get(route.path_format, {})
            role = required_role(route)
            for method in route.methods:
                operation = operations.get(method.lower())
                if operation is None:
                    continue
                _document_operation(operation, route, role, problem)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document_operation(
    operation: dict[str, Any], route: Any, role: Role | None, problem: dict[str, Any]
) -> None:
    if role is None:
        operation["x-required-role"] = Role.PUBLIC.value
        if current_principal in _dependency_calls(route):
            operation["security"] = [{}, {SECURITY_SCHEME: []}]
            operation.setdefault("responses", {}).setdefault(
                "401", _problem_response("A key was sent but is not valid", problem)
            )
        return
    operation["x-required-role"] = role.value
    operation["security"] = [{SECURITY_SCHEME: []}]
    note = f"**Role:** {_needed(role)} (API key as `Authorization: Bearer <key>`)."
    operation["description"] = f"{operation.get('description', '').rstrip()}\n\n{note}".lstrip()
    responses = operation.setdefault("responses", {})
    responses.setdefault("401", _problem_response("No API key, or not a valid one", problem))
    responses.setdefault("403", _problem_response(f"The key's role is below {role}", problem))


def _problem_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}}}
