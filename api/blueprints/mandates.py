"""« Mes aidants »: the holder grants, lists and revokes mediators' mandates.

Every endpoint here requires the holder in person (:class:`Holder`): a mediator acting
under a mandate can never grant, see or revoke mandates.
"""

from __future__ import annotations

from flask import Blueprint

from .. import errors as e
from .. import schemas
from ..http import ACCESS_ERRORS, client_info, endpoint
from ..services import mandates
from ..services.tokens import Holder

bp = Blueprint("mandates", __name__, url_prefix="/api/v1/account/mandates")


@bp.post("")
@endpoint(
    summary="Give a mediator a mandate: scoped, time-boxed (needs a sign-in under 5 minutes)",
    body=schemas.CreateMandateRequest,
    response=schemas.MandateView,
    status=201,
    requires=Holder,
    errors=[e.ValidationError, e.MediatorNotFound, e.ReauthenticationRequired, *ACCESS_ERRORS],
    tag="mandates",
)
def grant(principal, data):
    return mandates.grant(
        principal.account,
        principal.session,
        data["mediator_code"],
        data["scopes"],
        data["duration_days"],
        client_info(),
    )


@bp.get("")
@endpoint(
    summary="The holder's mandates, in force or ended, newest first",
    response=schemas.MandateList,
    requires=Holder,
    errors=ACCESS_ERRORS,
    tag="mandates",
)
def list_mandates(principal):
    return {"items": mandates.of_account(principal.account.id)}


@bp.delete("/<mandate_id>")
@endpoint(
    summary="Revoke a mandate: the mediator's delegated sessions end at once",
    status=204,
    requires=Holder,
    errors=[e.NotFound, *ACCESS_ERRORS],
    tag="mandates",
)
def revoke(principal, mandate_id):
    mandates.revoke(principal.account.id, mandate_id, client_info())
