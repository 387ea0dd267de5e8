"""« Connexion biométrique » in « Gérer mon compte »: list, rename and remove devices."""

from __future__ import annotations

from ..clock import utcnow
from ..errors import NotFound
from ..extensions import db
from ..infra import mail_templates
from ..infra.client import ClientInfo
from ..models import Account, Authenticator
from . import activity, notices, sessions


def _own(account_id: str, authenticator_id: str) -> Authenticator:
    authenticator = db.session.get(Authenticator, authenticator_id)
    # Another person's device is "not found", never "forbidden": nothing is revealed.
    if authenticator is None or authenticator.account_id != account_id:
        raise NotFound("Cet appareil n'est pas associé à votre compte.")
    return authenticator


def rename(account_id: str, authenticator_id: str, name: str, client: ClientInfo) -> Authenticator:
    authenticator = _own(account_id, authenticator_id)
    authenticator.name = name
    activity.record("authenticator_renamed", account_id, client, name=name)
    return authenticator


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
    notices.tell_holder(account, mail_templates.authenticator_removed(name, utcnow()))
