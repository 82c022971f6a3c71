"""/api/v1/keys: list, create and revoke API keys (admin only).

The same store as ``campuslab keys ...``; a key's secret is in the answer to
POST only, once, and is never stored or listed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field

from campuslab.api.keys import MAX_NAME_LENGTH, ApiKey, KeyStore, Role, UnknownKey, check_name
from campuslab.api.problems import ApiProblem, invalid_parameter, problem_responses, shown
from campuslab.api.security import require_role

router = APIRouter(
    prefix="/api/v1/keys",
    tags=["keys"],
    dependencies=[Depends(require_role(Role.ADMIN))],
)

KeyRoleName = Literal["researcher", "planner", "facilities", "admin"]
KeyIdPath = Annotated[
    str,
    Path(
        description="the key's id (12 hex digits)",
        pattern=r"^[0-9a-f]{12}$",
        examples=["3f9a2c1b7d0e"],
    ),
]


class KeyDescription(BaseModel):
    """An API key, without its secret."""

    id: str = Field(examples=["3f9a2c1b7d0e"])
    name: str = Field(examples=["Jane Doe, thermal comfort study"])
    role: KeyRoleName
    created: datetime
    last_used: datetime | None = Field(
        description="last accepted, to within 5 minutes; null if never used"
    )
    revoked: bool
    revoked_at: datetime | None


class NewKeyRequest(BaseModel):
    name: str = Field(
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        description="who or what the key is for",
        examples=["Jane Doe, thermal comfort study"],
    )
    role: KeyRoleName = Field(examples=["researcher"])


class CreatedKey(KeyDescription):
    key: str = Field(
        description="the key itself: shown this once, never stored; send it as "
        "'Authorization: Bearer <key>'",
        examples=["clk_3f9a2c1b7d0e_" + "x" * 43],
    )


def _described(key: ApiKey) -> KeyDescription:
    return KeyDescription(
        id=key.id,
        name=key.name,
        role=key.role.value,
        created=key.created,
        last_used=key.last_used,
        revoked=key.revoked,
        revoked_at=key.revoked_at,
    )


def _key_store(request: Request) -> KeyStore:
    keys: KeyStore | None = request.app.state.keys
    # only an admin key gets here, and admin keys live in the store
    assert keys is not None
    return keys


KeyStoreDep = Annotated[KeyStore, Depends(_key_store)]


def _one_key_responses() -> dict[int | str, dict]:
    responses = problem_responses(404, 422, 500)
    responses[404] = {**responses[404], "description": "No key has that id"}
    return responses


def _unknown(key_id: str) -> ApiProblem:
    return ApiProblem(
        "unknown-key",
        f"no API key {shown(key_id)}; GET /api/v1/keys lists them",
        parameter="key_id",
    )


@router.get(
    "",
    response_model=list[KeyDescription],
    summary="List the API keys",
    description="Every key, revoked ones too, oldest first; never the keys themselves.",
    responses=problem_responses(500),
)
def list_keys(keys: KeyStoreDep) -> list[KeyDescription]:
    return [_described(k) for k in keys.list()]


@router.post(
    "",
    status_code=201,
    response_model=CreatedKey,
    summary="Create an API key",
    description="A new key with a role. The answer holds the key itself, the only time it "
    "is shown; store it now.",
    responses=problem_responses(422, 500),
)
def create_key(body: NewKeyRequest, keys: KeyStoreDep, response: Response) -> CreatedKey:
    try:
        name = check_name(body.name)
    except ValueError as exc:
        raise invalid_parameter("name", str(exc)) from None
    created = keys.create(Role(body.role), name)
    response.headers["Location"] = f"/api/v1/keys/{created.key.id}"
    response.headers["Cache-Control"] = "no-store"
    return CreatedKey(**_described(created.key).model_dump(), key=created.secret)


@router.get(
    "/{key_id}",
    response_model=KeyDescription,
    summary="One API key",
    responses=_one_key_responses(),
)
def get_key(key_id: KeyIdPath, keys: KeyStoreDep) -> KeyDescription:
    try:
        return _described(keys.get(key_id))
    except UnknownKey:
        raise _unknown(key_id) from None


@router.delete(
    "/{key_id}",
    response_model=KeyDescription,
    summary="Revoke an API key",
    description="The key is refused from the next request on, here and in every process "
    "sharing the key store. It stays listed, marked revoked. Revoking twice is harmless.",
    responses=_one_key_responses(),
)
def revoke_key(key_id: KeyIdPath, keys: KeyStoreDep) -> KeyDescription:
    try:
        return _described(keys.revoke(key_id))
    except UnknownKey:
        raise _unknown(key_id) from None
