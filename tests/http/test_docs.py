"""The interactive docs work without internet: Swagger UI loads every asset from the server
itself (fastapi-offline's copies), with no key and without counting; ReDoc, whose bundle
would fetch from a CDN, is not served and its addresses say so."""

from __future__ import annotations

import re

import httpx
import pytest

DOCS = "/api/v1/docs"
REFERENCE = re.compile(r"""(?:src|href|url)\s*[=:]\s*["']([^"']+)["']""")
EXTERNAL = re.compile(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", re.IGNORECASE)


def references(html: str) -> list[str]:
    """Every address the page loads or points at (scripts, styles, icons, the schema)."""
    return REFERENCE.findall(html)


def test_the_docs_page_references_no_external_url(api_url) -> None:
    response = httpx.get(f"{api_url}{DOCS}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert not EXTERNAL.search(html), html
    found = references(html)
    assert "/api/v1/openapi.json" in found
    assert {url.rsplit(".", 1)[-1] for url in found if url.startswith(f"{DOCS}/assets/")} == {
        "js",
        "css",
        "png",
    }
    for url in found:
        assert url.startswith("/"), f"the docs page references {url}"
        loaded = httpx.get(f"{api_url}{url}")  # no key: served like the page
        assert loaded.status_code == 200, url
        assert loaded.content, url
        assert "X-RateLimit-Remaining" not in loaded.headers


def test_the_assets_are_the_real_swagger_ui(api_url) -> None:
    html = httpx.get(f"{api_url}{DOCS}").text
    script = next(url for url in references(html) if url.endswith(".js"))
    bundle = httpx.get(f"{api_url}{script}")
    assert bundle.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert "SwaggerUIBundle" in bundle.text and len(bundle.content) > 500_000
    # The online validator badge would call out to validator.swagger.io: it is switched off.
    assert '"validatorUrl": null' in html


def test_the_usual_docs_address_redirects(api_url) -> None:
    response = httpx.get(f"{api_url}/docs")
    assert response.status_code == 307
    assert response.headers["location"] == DOCS


@pytest.mark.parametrize("path", ["/api/v1/redoc", "/redoc"])
def test_redoc_is_gone_and_says_where_the_docs_are(api_url, path) -> None:
    response = httpx.get(f"{api_url}{path}")  # no key needed to read this
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "not_found"
    assert "ReDoc is not served" in body["error"] and DOCS in body["error"]
    assert body["details"] == {"docs": DOCS, "openapi": "/api/v1/openapi.json"}


def test_the_swagger_oauth2_redirect_page_is_served(api_url) -> None:
    response = httpx.get(f"{api_url}{DOCS}/oauth2-redirect")
    assert response.status_code == 200
    assert not EXTERNAL.search(response.text)
