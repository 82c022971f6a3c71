"""CampusLab's HTTP API and overview page (FastAPI); ``create_app`` builds it."""

from campuslab.api.app import create_app

__all__ = ["create_app"]
