"""« Mes coordonnées »: the holder's email, mobile and trusted person."""

from __future__ import annotations

from flask import Blueprint

from .. import errors as e
from .. import schemas
from ..http import ACCESS_ERRORS, client_info, endpoint
from ..services import contacts
from ..services.tokens import Holder, Principal

bp = Blueprint("contacts", __name__, url_prefix="/api/v1/account/contacts")

KIND = "<any(email, phone, trusted_email):kind>"


@bp.get("")
@endpoint(
    summary="The holder's contacts, in full",
    response=schemas.Contacts,
    requires=Principal,
    errors=ACCESS_ERRORS,
    tag="account",
)
def show(principal):
    return contacts.view(principal.account)


@bp.put(f"/{KIND}")
@endpoint(
    summary="Send a code to a new address or number (fresh session); nothing changes yet",
    body=schemas.ContactRequest,
    response=schemas.ContactCodeSent,
    status=202,
    requires=Holder,
    errors=[e.ValidationError, e.ReauthenticationRequired, e.RateLimited, *ACCESS_ERRORS],
    tag="account",
)
def start_change(principal, kind, data):
    return contacts.start_change(principal, kind, data["value"], data["name"], client_info())


@bp.post(f"/{KIND}/verify")
@endpoint(
    summary="Type the code sent to the new value: it is in force, and the holder is told",
    body=schemas.VerifyCodeRequest,
    response=schemas.ContactView,
    requires=Holder,
    errors=[e.ValidationError, e.OtpInvalid, e.OtpExpired, e.OtpLocked, *ACCESS_ERRORS],
    tag="account",
)
def confirm_change(principal, kind, data):
    return contacts.confirm_change(principal, kind, data["code"], client_info())


@bp.delete(f"/{KIND}")
@endpoint(
    summary="Remove a contact (fresh session), unless no way to receive a code would be left",
    status=204,
    requires=Holder,
    errors=[e.ReauthenticationRequired, e.NotFound, e.LastChannel, *ACCESS_ERRORS],
    tag="account",
)
def remove(principal, kind):
    contacts.remove(principal, kind, client_info())
