"""The API reference under /schema: Swagger UI from our own static files, started by a script file of ours."""
from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from litestar import Request
from litestar.openapi.plugins import OpenAPIRenderPlugin, YamlRenderPlugin

SWAGGER_UI = "5.36.0"


class ApiDocsPlugin(OpenAPIRenderPlugin):
    """Litestar's own Swagger page loads the UI from a CDN and starts it with an inline script, which a closed
    network cannot fetch and our Content-Security-Policy refuses; this page loads only /static files and leaves
    the spec where the UI fetches it (the JSON route), so nothing of the API is written into the HTML."""

    def __init__(self, path: Sequence[str] = ("/", "/swagger"), **kwargs: Any) -> None:
        super().__init__(path=list(path), **kwargs)

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        title = escape(str(openapi_schema.get("info", {}).get("title", "API")))
        spec_url = escape(self.get_openapi_json_route(request))
        # Trying out a write with the page's session needs the same CSRF token as our forms send.
        csrf = escape(str(getattr(request.state, "csrf_token", "")))
        return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} · API</title>
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/static/vendor/swagger-ui-{SWAGGER_UI}.css">
  <link rel="stylesheet" href="/static/api-docs.css">
  <script src="/static/vendor/swagger-ui-bundle-{SWAGGER_UI}.js" defer></script>
  <script src="/static/api-docs.js" defer></script>
</head>
<body>
  <div id="api-docs" data-spec-url="{spec_url}" data-csrf-token="{csrf}"></div>
</body>
</html>
""".encode()


def api_docs_plugins() -> list[OpenAPIRenderPlugin]:
    """What /schema serves: the page at /schema and /schema/swagger, the YAML; Litestar adds openapi.json itself."""
    return [ApiDocsPlugin(), YamlRenderPlugin()]
