"""Linking a FranceConnect identity to an account, from « Gérer mon compte ».

The link token comes from a FranceConnect+ sign-in whose identity no account knew yet.
Only the holder, in a session they opened the usual way less than
``REAUTH_MAX_AGE_SECONDS`` ago, may link it: a FranceConnect identity alone never takes
over an account. One identity links to one account and one account to one identity.
Linking and unlinking are emailed to the holder and shown in « Mon activité »; unlinking
ends the sessions FranceConnect opened, as removing a device ends its sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..clock import utcnow
from ..config import settings
from ..errors import AlreadyLinked, LinkTokenInvalid, NotFound, ReauthenticationRequired
from ..extensions import db
from ..infra import mail_templates
from ..infra.client import ClientInfo
from ..models import FranceConnectLink
from . import activity, notices, sessions
from . import franceconnect_attempts as attempts
from .tokens import Principal


@dataclass(frozen=True)
class LinkStatus:
    linked: bool
    linked_at: datetime | None = None


@dataclass(frozen=True)
class Linked:
    """What the holder sees once: the names FranceConnect gave, never stored."""

    linked_at: datetime
    given_name: str
    family_name: str


def status(account_id: str) -> LinkStatus | None:
    """Return whether the account is linked, or None while FranceConnect is off."""
    if not settings().franceconnect_enabled:
        return None
    link = db.session.get(FranceConnectLink, account_id)
    return LinkStatus(True, link.linked_at) if link else LinkStatus(False)


def by_subject(sub_hash: bytes | None) -> FranceConnectLink | None:
    if sub_hash is None:
        return None
    return db.session.scalar(
        select(FranceConnectLink).where(FranceConnectLink.sub_hash == sub_hash)
    )


def link(principal: Principal, link_token: str, client: ClientInfo) -> Linked:
    """Link the identity behind ``link_token`` to the holder's account."""
    max_age = timedelta(seconds=settings().REAUTH_MAX_AGE_SECONDS)
    if utcnow() - principal.session.auth_time > max_age:
        raise ReauthenticationRequired()
    found = attempts.find("link", link_token)
    if found is None or not attempts.is_live(found[1]):
        raise LinkTokenInvalid()
    attempt, secret = found
    account = principal.account
    holder = by_subject(attempt.sub_hash)
    if holder is not None and holder.account_id != account.id:
        raise AlreadyLinked()
    own = db.session.get(FranceConnectLink, account.id)
    if own is not None and own.sub_hash != attempt.sub_hash:
        raise AlreadyLinked(
            "Votre compte est déjà associé à une autre identité FranceConnect. Retirez-la "
            "d'abord depuis « Gérer mon compte »."
        )
    if not attempts.spend(secret):
        raise LinkTokenInvalid()
    now = utcnow()
    if own is None:
        db.session.add(
            FranceConnectLink(
                account_id=account.id,
                sub_hash=attempt.sub_hash,
                pivot_hash=attempt.pivot_hash,
                linked_at=now,
            )
        )
        try:
            db.session.flush()
        except IntegrityError:
            # Another account linked this identity a moment ago: the unique index decides.
            raise AlreadyLinked() from None
    else:  # the same identity again, confirmed by its holder after its pivot identity changed
        own.pivot_hash = attempt.pivot_hash
        own.linked_at = now
    shown = Linked(now, attempt.given_name or "", attempt.family_name or "")
    attempts.forget_identity(attempt)
    activity.record("franceconnect_linked", account.id, client)
    notices.tell_holder(account, mail_templates.franceconnect_linked(now))
    return shown


def unlink(principal: Principal, client: ClientInfo) -> None:
    """Remove the account's FranceConnect link and end the sessions it opened."""
    account = principal.account
    link = db.session.get(FranceConnectLink, account.id)
    if link is None:
        raise NotFound("Votre compte n'est pas associé à FranceConnect.")
    db.session.delete(link)
    sessions.revoke_opened_with_franceconnect(account.id, reason="franceconnect_unlinked")
    activity.record("franceconnect_unlinked", account.id, client)
    notices.tell_holder(account, mail_templates.franceconnect_unlinked(utcnow()))
