"""Paged lists: ``limit``/``offset``, ``X-Total-Count`` and RFC 8288 ``Link`` headers.

Shared by every route that answers a list a page at a time (spaces, dead letters), so
the headers, their OpenAPI description and the page bounds are the same everywhere.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

DEFAULT_PAGE = 100
MAX_PAGE = 1000


def paged_responses(page_description: str, what: str) -> dict[int | str, dict[str, Any]]:
    """The 200 entry of ``responses=`` for a paged route: its two headers, described."""
    return {
        200: {
            "description": page_description,
            "headers": {
                "X-Total-Count": {
                    "description": f"{what} matching the filters, over all pages",
                    "schema": {"type": "integer"},
                },
                "Link": {
                    "description": 'RFC 8288 links to the rel="next" and rel="prev" pages, '
                    "when there are any",
                    "schema": {"type": "string"},
                },
            },
        }
    }


def set_paging_headers(
    request: Request,
    response: Response,
    total: int,
    limit: int,
    offset: int,
    **pinned: str,
) -> None:
    """``X-Total-Count`` and the next/prev ``Link``s (relative URLs).

    Args:
        pinned: query parameters every linked page carries, e.g. ``until`` fixed at the
            first page so items arriving meanwhile do not shift the later pages.
    """

    def page(at: int) -> str:
        url = request.url.include_query_params(limit=limit, offset=at, **pinned)
        return f"{url.path}?{url.query}"

    links = []
    if offset + limit < total:
        links.append(f'<{page(offset + limit)}>; rel="next"')
    if offset > 0:
        links.append(f'<{page(max(0, min(offset, total) - limit))}>; rel="prev"')
    response.headers["X-Total-Count"] = str(total)
    if links:
        response.headers["Link"] = ", ".join(links)
