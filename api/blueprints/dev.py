"""Development helpers: registered only with ``MAIL_BACKEND=outbox`` in development or testing.

Anywhere else (production, or a test or development set-up that sends real mail) the
routes do not exist: a code that leaves by email must never be readable over HTTP.
"""

from __future__ import annotations

from flask import Blueprint, request

from .. import errors as e
from .. import schemas
from ..errors import ValidationError
from ..http import endpoint
from ..infra import mailer

bp = Blueprint("dev", __name__, url_prefix="/api/v1/dev")


@bp.get("/outbox")
@endpoint(
    summary="Development only: messages written to the outbox for an address",
    response=schemas.OutboxList,
    errors=[e.ValidationError],
    tag="development",
    query=[
        {
            "name": "to",
            "required": True,
            "schema": {"type": "string", "format": "email", "pattern": r"^\S+@\S+$"},
        }
    ],
)
def outbox():
    address = request.args.get("to", "").strip()
    if not address:
        raise ValidationError(errors={"to": ["Indiquez une adresse électronique."]})
    return {"items": mailer.outbox_for(address)}
