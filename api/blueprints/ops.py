"""Operations endpoints: liveness, readiness and the OpenAPI description."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from ..errors import ServiceUnavailable
from ..extensions import db
from ..infra.outbox import MAIL, SMS
from ..openapi import build_spec

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    """Answer while the process is up."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Answer 200 only while the database answers; report the mail and SMS backlogs too."""
    try:
        db.session.execute(text("SELECT 1"))
        mail_backlog, sms_backlog = MAIL.backlog(), SMS.backlog()
    except Exception:
        db.session.rollback()
        raise ServiceUnavailable(database="unreachable", headers={"Retry-After": "5"}) from None
    return jsonify(
        status="ready", database="ok", mail_backlog=mail_backlog, sms_backlog=sms_backlog
    )


@bp.get("/api/v1/openapi.json")
def openapi():
    """Serve the OpenAPI 3 description, built from the views and their schemas."""
    return jsonify(build_spec(current_app))
