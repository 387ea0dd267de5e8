"""« Connexion biométrique » in « Gérer mon compte »: list, rename and remove devices."""

from __future__ import annotations

from typing import Any

from ..clock import utcnow
from ..errors import NotFound
from ..extensions import db
from ..models import Account, Authenticator
from ..webauthn import credentials
from . import activity, mail_templates, mailer, sessions
from .client import ClientInfo


def describe(authenticator: Authenticator) -> dict[str, Any]:
    return {
        "id": authenticator.id,
        "name": authenticator.name,
        "created_at": authenticator.created_at,
        "last_used_at": authenticator.last_used_at,
        "backed_up": authenticator.backup_state,
        "device_type": authenticator.device_type,
        "blocked": authenticator.flagged_at is not None,
    }


def list_for(account_id: str) -> list[dict[str, Any]]:
    return [describe(a) for a in credentials.of_account(account_id)]


def _own(account_id: str, authenticator_id: str) -> Authenticator:
    authenticator = db.session.get(Authenticator, authenticator_id)
    # Another person's device is "not found", never "forbidden": nothing is revealed.
    if authenticator is None or authenticator.account_id != account_id:
        raise NotFound("Cet appareil n'est pas associé à votre compte.")
    return authenticator


def rename(account_id: str, authenticator_id: str, name: str, client: ClientInfo) -> dict:
    authenticator = _own(account_id, authenticator_id)
    authenticator.name = name
    activity.record("authenticator_renamed", account_id, client, name=name)
    return describe(authenticator)


def remove(account: Account, authenticator_id: str, client: ClientInfo) -> None:
    """Delete the credential and end the sessions it opened; tell the holder.

    A lost phone must be signed out, not only barred from signing in again: its
    refresh token would otherwise keep it in for weeks.
    """
    authenticator = _own(account.id, authenticator_id)
    name = authenticator.name
    sessions.revoke_opened_with(authenticator.id, reason="authenticator_removed")
    db.session.delete(authenticator)
    activity.record("authenticator_removed", account.id, client, name=name)
    mailer.queue(account.email, mail_templates.authenticator_removed(name, utcnow()))
