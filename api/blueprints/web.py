"""The « Mon Compte » web pages: static HTML, CSS and JavaScript over the same JSON API.

``/`` is the holders' page; ``/aidant`` the mediators' (sign-in, mandates, delegated view);
``/accessibilite`` the accessibility statement (RGAA model), linked from both pages' footers.
"""

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


@bp.get("/aidant")
def mediator_page():
    """Serve the mediators' page; like the holders', it only calls /api/v1."""
    response = render_template("mediator.html")
    return response, 200, {"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"}


@bp.get("/accessibilite")
def accessibility_statement():
    """Serve the « Déclaration d'accessibilité » that French public services must publish."""
    response = render_template("accessibilite.html")
    return response, 200, {"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"}
