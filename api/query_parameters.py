"""Unknown query parameters are refused, on every route, by one app-wide dependency.

A misspelt or unsupported parameter (``?buildng=lsb``, ``?site=x``) silently
ignored gives an answer to a question nobody asked; instead the answer is 422,
an RFC 9457 problem naming the parameter and listing the ones the operation
takes. The declared parameters are read from the matched route's dependency
tree (its own and those of its dependencies), so no route carries code for it.

One name is always accepted: ``_``, the conventional cache buster that HTTP
clients (jQuery, some dashboards) append as ``?_=<epoch ms>``; it is ignored.
Pages outside ``/api/`` (the overview page) are left alone: a browser may carry
tracking or bookmark parameters there, and a page is no data answer.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from campuslab.api.problems import ApiProblem, shown

CACHE_BUSTER = "_"
CHECKED_PREFIX = "/api/"
_DECLARED: dict[int, frozenset[str]] = {}


def declared_query_parameters(dependant: Dependant) -> frozenset[str]:
    """The query parameter names (aliases) of an operation, its dependencies' included."""
    names: set[str] = set()
    stack = [dependant]
    while stack:
        current = stack.pop()
        names.update(field.alias for field in current.query_params)
        stack.extend(current.dependencies)
    return frozenset(names)


async def reject_unknown_query_parameters(request: Request) -> None:
    """422 ``invalid-parameter`` for the first query parameter the operation does not take."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.url.path.startswith(CHECKED_PREFIX):
        return
    declared = _DECLARED.get(id(route))
    if declared is None:
        declared = _DECLARED[id(route)] = declared_query_parameters(route.dependant)
    for name in request.query_params:
        if name != CACHE_BUSTER and name not in declared:
            takes = ", ".join(sorted(declared)) if declared else "no query parameters"
            raise ApiProblem(
                "invalid-parameter",
                f"unknown query parameter {shown(name)}: {request.method} "
                f"{route.path} takes {takes}",
                parameter=name,
            )
