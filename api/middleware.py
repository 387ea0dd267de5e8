"""What every request goes through: its id, its timing, JSON bodies, security headers.

One hook before and one after each request, so the per-request overhead is one place to
read and to measure. The access log carries method, path, status and timing only:
never a body, a query string (it could carry an address) or a header.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from .errors import UnsupportedMediaType

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
_HSTS = "max-age=63072000; includeSubDomains"

access_log = logging.getLogger("api.access")


def install(app: Flask, *, production: bool) -> None:
    """Register the request hooks on ``app``."""

    @app.before_request
    def begin_request() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()
        # Any body sent to the API must be JSON, even where the endpoint ignores it.
        if request.method in _BODY_METHODS and request.content_length and not request.is_json:
            raise UnsupportedMediaType()

    @app.after_request
    def end_request(response: Response) -> Response:
        headers = response.headers
        for name, value in _SECURITY_HEADERS.items():
            headers.setdefault(name, value)
        if request.path.startswith("/api/"):
            headers["Cache-Control"] = "no-store"
        if production:
            headers["Strict-Transport-Security"] = _HSTS
        headers["X-Request-ID"] = g.get("request_id", "")
        elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        access_log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(elapsed, 1),
            },
        )
        return response
