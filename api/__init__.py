"""CampusLab's HTTP API and overview page (FastAPI); ``create_app`` builds it.

``create_app`` is imported on first use (PEP 562), so a process that needs only a
part of the API package, such as ``campuslab ingest`` reading nothing but the key
store, does not load the analytics stack (pythermalcomfort, numba) at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from campuslab.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from campuslab.api.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
