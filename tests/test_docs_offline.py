"""/docs and /redoc work with no outside network: their assets come from the package.

``campuslab serve`` runs with the real Mosquitto; Debian's Chromium (Playwright)
opens the pages with every request to a host other than the server aborted, as on a
campus network with no outside access. Swagger UI must render the operations, and
ReDoc the API's title and operations, not just load the HTML.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from test_overview_live import browser  # noqa: F401  (the fixture)

pytestmark = pytest.mark.servers

WAIT_MS = 20_000


def offline_page(browser, base_url: str):  # noqa: F811
    """A page whose requests to any host but the server's are aborted (and recorded)."""
    server = urlsplit(base_url).netloc
    blocked: list[str] = []
    context = browser.new_context()
    page = context.new_page()

    def route(request_route) -> None:
        url = request_route.request.url
        if urlsplit(url).netloc == server or url.startswith(("data:", "blob:")):
            request_route.continue_()
        else:
            blocked.append(url)
            request_route.abort("internetdisconnected")

    page.route("**/*", route)
    return page, blocked


# ReDoc 2.x's side menu shows a "docs by Redocly" badge whose image is on Redocly's CDN;
# the page works without it (a missing image), and ReDoc has no option to drop it.
REDOC_BADGE = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def test_docs_render_operations_offline(mosquitto, serve_factory, browser):  # noqa: F811
    server = serve_factory(mosquitto.url)
    page, blocked = offline_page(browser, server.base_url)
    page.goto(f"{server.base_url}/docs")
    operation = page.locator(".opblock-get", has_text="/api/v1/spaces").first
    operation.wait_for(state="visible", timeout=WAIT_MS)
    assert "GET" in operation.inner_text()
    assert page.locator(".opblock").count() > 10  # every router's operations, not one
    assert page.locator(".info .title").inner_text().startswith("CampusLab API")
    assert blocked == []  # nothing was even tried outside the server

    page.goto(f"{server.base_url}/redoc")
    page.get_by_role("heading", name="CampusLab API", exact=False).first.wait_for(
        state="visible", timeout=WAIT_MS
    )
    # an operation of the spaces tag, rendered from the OpenAPI document
    page.get_by_text("/api/v1/spaces", exact=False).first.wait_for(
        state="attached", timeout=WAIT_MS
    )
    assert [url for url in blocked if url != REDOC_BADGE] == []
    page.context.close()
