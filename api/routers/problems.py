"""GET /api/v1/problems/{name}: what each CampusLab problem type means (RFC 9457 ``type``)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from campuslab.api.problems import PROBLEM_TYPES, invalid_parameter, problem_responses, shown

router = APIRouter(prefix="/api/v1/problems", tags=["problems"])


class ProblemTypeDescription(BaseModel):
    type: str = Field(examples=["/api/v1/problems/too-many-points"])
    title: str = Field(examples=["Too many points"])
    status: int = Field(examples=[422])
    description: str


def _described(name: str) -> ProblemTypeDescription:
    kind = PROBLEM_TYPES[name]
    return ProblemTypeDescription(
        type=kind.uri, title=kind.title, status=kind.status, description=kind.description
    )


@router.get(
    "",
    response_model=list[ProblemTypeDescription],
    summary="List the problem types",
    description="Every `type` a CampusLab problem-details answer can carry, besides "
    "`about:blank` for plain HTTP errors.",
)
def list_problem_types() -> list[ProblemTypeDescription]:
    return [_described(name) for name in PROBLEM_TYPES]


@router.get(
    "/{name}",
    response_model=ProblemTypeDescription,
    summary="Describe one problem type",
    description="The page a problem's `type` URI resolves to.",
    responses=problem_responses(422),
)
def describe_problem_type(name: str) -> ProblemTypeDescription:
    if name not in PROBLEM_TYPES:
        raise invalid_parameter(
            "name", f"no problem type {shown(name)}; use one of: {', '.join(PROBLEM_TYPES)}"
        )
    return _described(name)
