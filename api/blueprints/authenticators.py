"""« Connexion biométrique »: enrol, list, rename and remove a phone's biometrics."""

from __future__ import annotations

from flask import Blueprint

from .. import errors as e
from .. import schemas
from ..http import ACCESS_ERRORS, client_info, endpoint
from ..services import authenticators, enrolment
from ..services.tokens import Holder, Principal

bp = Blueprint("authenticators", __name__, url_prefix="/api/v1/account/authenticators")

_ACCESS_ERRORS = ACCESS_ERRORS


@bp.post("/options")
@endpoint(
    summary="Creation options for a platform authenticator (needs a sign-in under 5 minutes)",
    response=schemas.CreationOptions,
    requires=Holder,
    errors=[e.ReauthenticationRequired, *_ACCESS_ERRORS],
    tag="account",
)
def registration_options(principal):
    return enrolment.begin_enrolment(principal)


@bp.post("")
@endpoint(
    summary="Register the authenticator from a RegistrationResponseJSON (sign-in still fresh)",
    body=schemas.EnrolRequest,
    response=schemas.AuthenticatorView,
    status=201,
    requires=Holder,
    errors=[
        e.ValidationError,
        e.WebAuthnRegistrationFailed,
        e.ReauthenticationRequired,
        e.AlreadyRegistered,
        *_ACCESS_ERRORS,
    ],
    tag="account",
)
def register(principal, data):
    return enrolment.finish_enrolment(principal, data["credential"], data["name"], client_info())


@bp.get("")
@endpoint(
    summary="The account's authenticators",
    response=schemas.AuthenticatorList,
    requires=Principal,
    errors=_ACCESS_ERRORS,
    tag="account",
)
def list_authenticators(principal):
    return {"items": principal.account.authenticators}


@bp.patch("/<authenticator_id>")
@endpoint(
    summary="Rename an authenticator",
    body=schemas.RenameRequest,
    response=schemas.AuthenticatorView,
    requires=Holder,
    errors=[e.ValidationError, e.NotFound, *_ACCESS_ERRORS],
    tag="account",
)
def rename(principal, authenticator_id, data):
    return authenticators.rename(
        principal.account.id, authenticator_id, data["name"], client_info()
    )


@bp.delete("/<authenticator_id>")
@endpoint(
    summary="Remove an authenticator: it stops working and the sessions it opened end at once",
    status=204,
    requires=Holder,
    errors=[e.NotFound, *_ACCESS_ERRORS],
    tag="account",
)
def remove(principal, authenticator_id):
    authenticators.remove(principal.account, authenticator_id, client_info())
