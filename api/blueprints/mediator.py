"""The mediators' API: sign-in, password, mandates, delegated sessions.

A mediator's token (``aud`` mediator) is the only one accepted here; it is refused by
every ``/account*`` endpoint. Until the operator's initial password is replaced, only
the profile, the password change and the sign-out answer.
"""

from __future__ import annotations

from flask import Blueprint

from .. import errors as e
from .. import schemas
from ..config import settings
from ..extensions import limiter
from ..http import client_info, endpoint
from ..services import delegation, mandates, mediator_login, mediators
from ..services.mediator_login import ActiveMediator, MediatorPrincipal

bp = Blueprint("mediator", __name__, url_prefix="/api/v1/mediator")

# Per-address limits, as for the holders' sign-in; the real defence is the per-email
# lockout in the database.
limiter.limit(lambda: settings().RATELIMIT_PER_IP)(bp)


@bp.post("/login")
@endpoint(
    summary="Mediator sign-in: email, password and the authenticator app's code (RFC 6238)",
    body=schemas.MediatorLoginRequest,
    response=schemas.MediatorSignedIn,
    errors=[e.ValidationError, e.InvalidCredentials, e.TooManyAttempts],
    tag="mediator",
)
def sign_in(data):
    return mediator_login.sign_in(data["email"], data["password"], data["totp"], client_info())


@bp.get("")
@endpoint(
    summary="The signed-in mediator, with their public mediator code",
    response=schemas.MediatorProfile,
    requires=MediatorPrincipal,
    tag="mediator",
)
def profile(principal):
    return principal.mediator


@bp.put("/password")
@endpoint(
    summary="Change the mediator's password (the operator's initial one must be replaced)",
    body=schemas.MediatorChangePasswordRequest,
    status=204,
    requires=MediatorPrincipal,
    errors=[e.ValidationError, e.WeakPassword, e.InvalidCurrentPassword, e.TooManyAttempts],
    tag="mediator",
)
def change_password(principal, data):
    mediators.change_password(
        principal.mediator,
        principal.session,
        data["current_password"],
        data["new_password"],
        client_info(),
    )


@bp.post("/logout")
@endpoint(
    summary="End the mediator's session, and every delegated session opened from it",
    status=204,
    requires=MediatorPrincipal,
    tag="mediator",
)
def sign_out(principal):
    mediator_login.sign_out(principal, client_info())


@bp.get("/mandates")
@endpoint(
    summary="The mandates in force given to this mediator (holders' NIRs masked)",
    response=schemas.MediatorMandateList,
    requires=ActiveMediator,
    tag="mediator",
)
def list_mandates(principal):
    return {"items": mandates.in_force_of_mediator(principal.mediator.id)}


@bp.post("/mandates/<mandate_id>/session")
@endpoint(
    summary="Open a delegated session under a mandate: an access token, one hour at most",
    response=schemas.DelegatedToken,
    requires=ActiveMediator,
    errors=[e.NotFound],
    tag="mediator",
)
def open_session(principal, mandate_id):
    return delegation.open_session(principal.mediator, principal.session, mandate_id, client_info())
