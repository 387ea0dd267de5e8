"""Development helpers: the outboxes of mail and SMS, readable over HTTP.

Each exists only in development or testing, and only while its channel keeps messages
(``MAIL_BACKEND=outbox``, ``SMS_BACKEND=outbox``). Anywhere else (production, or a set-up
that really sends) the routes do not exist: a code that leaves the service must never be
readable over HTTP.
"""

from __future__ import annotations

import re

from flask import Blueprint, request

from .. import errors as e
from .. import schemas
from ..errors import ValidationError
from ..http import endpoint
from ..infra import mailer, sms

bp = Blueprint("dev", __name__, url_prefix="/api/v1/dev")
sms_bp = Blueprint("dev_sms", __name__, url_prefix="/api/v1/dev")

# E.164: a "+" and up to 15 digits. An unencoded "+" in a query string arrives as a space,
# so the digits alone are accepted too.
_E164 = re.compile(r"\+?(\d{6,15})")


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


@sms_bp.get("/sms")
@endpoint(
    summary="Development only: text messages written to the SMS outbox for a number",
    response=schemas.SmsOutboxList,
    errors=[e.ValidationError],
    tag="development",
    query=[
        {
            "name": "to",
            "required": True,
            "description": "The number in E.164 form, e.g. +33612345678.",
            "schema": {"type": "string", "pattern": r"^\+?[0-9]{6,15}$"},
        }
    ],
)
def sms_outbox():
    match = _E164.fullmatch(request.args.get("to", "").strip())
    if match is None:
        raise ValidationError(
            errors={"to": ["Indiquez un numéro au format international, par exemple +33612345678."]}
        )
    return {"items": sms.outbox_for("+" + match.group(1))}
