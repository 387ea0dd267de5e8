"""The « Mon Compte » web page: static HTML, CSS and JavaScript over the same JSON API."""

from __future__ import annotations

from flask import Blueprint, render_template

from ..config import settings

bp = Blueprint("web", __name__)

# No inline script or style anywhere: the page's own files and its own API only.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


@bp.get("/")
def index():
    """Serve the page; every action in it is a call to /api/v1."""
    response = render_template("index.html", franceconnect=settings().franceconnect_enabled)
    return response, 200, {"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"}
