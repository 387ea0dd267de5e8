"""« Gérer mon compte »: the signed-in person's own account."""

from __future__ import annotations

from flask import Blueprint

from .. import errors as e
from .. import schemas
from ..http import ACCESS_ERRORS, client_info, endpoint
from ..services import accounts, activity, franceconnect_link, sessions
from ..services import menu as account_menu
from ..services.tokens import Holder, Principal

bp = Blueprint("account", __name__, url_prefix="/api/v1/account")

_ACCESS_ERRORS = ACCESS_ERRORS


@bp.get("")
@endpoint(
    summary="The signed-in account",
    response=schemas.AccountView,
    requires=Principal,
    errors=_ACCESS_ERRORS,
    tag="account",
)
def show(principal):
    account = principal.account
    return schemas.AccountPage(account, franceconnect=franceconnect_link.status(account.id))


@bp.get("/menu")
@endpoint(
    summary="Entries of the « Gérer mon compte » menu",
    response=schemas.Menu,
    requires=Principal,
    errors=_ACCESS_ERRORS,
    tag="account",
)
def menu(principal):
    return {"items": account_menu.items(delegated=principal.delegation is not None)}


@bp.put("/password")
@endpoint(
    summary="Change the password; other sessions end and a notice is emailed",
    body=schemas.ChangePasswordRequest,
    status=204,
    requires=Holder,
    errors=[
        e.ValidationError,
        e.WeakPassword,
        e.InvalidCurrentPassword,
        e.TooManyAttempts,
        e.ReauthenticationRequired,
        *_ACCESS_ERRORS,
    ],
    tag="account",
)
def change_password(principal, data):
    accounts.change_password(
        principal.account,
        data["current_password"],
        data["new_password"],
        session=principal.session,
        client=client_info(),
    )


@bp.get("/sessions")
@endpoint(
    summary="Open sessions of the account",
    response=schemas.SessionList,
    requires=Principal,
    errors=_ACCESS_ERRORS,
    tag="account",
)
def list_sessions(principal):
    return schemas.SessionPage(
        sessions.list_sessions(principal.account.id), current_id=principal.session.id
    )


@bp.delete("/sessions")
@endpoint(
    summary="« Déconnecter tous mes appareils »: end every session but the current one",
    status=204,
    requires=Holder,
    errors=[*_ACCESS_ERRORS],
    tag="account",
)
def end_other_sessions(principal):
    sessions.end_all_others(principal.account.id, principal.session.id, client_info())


@bp.post("/activity/<event_id>/not-me")
@endpoint(
    summary="« Ce n'était pas moi » on an activity item: end every other session, record it",
    status=204,
    requires=Holder,
    errors=[e.NotFound, *_ACCESS_ERRORS],
    tag="account",
)
def not_me(principal, event_id):
    sessions.report_not_me(principal.account.id, event_id, principal.session.id, client_info())


@bp.delete("/sessions/<session_id>")
@endpoint(
    summary="End one of the account's sessions",
    status=204,
    requires=Holder,
    errors=[e.NotFound, *_ACCESS_ERRORS],
    tag="account",
)
def end_session(principal, session_id):
    sessions.end_session(principal.account.id, session_id, client_info())


@bp.get("/activity")
@endpoint(
    summary="Security events, newest first, in French",
    response=schemas.ActivityList,
    requires=Principal,
    errors=_ACCESS_ERRORS,
    tag="account",
)
def show_activity(principal):
    return {"items": activity.recent_activity(principal.account.id)}
