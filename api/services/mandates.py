"""Mandates: a holder's consent that a mediator may act for them, scoped and time-boxed.

Only the holder in person creates, lists and revokes them, from a fresh session (the
views require :class:`~api.services.tokens.Holder`). A holder has at most one mandate in
force per mediator: a new one replaces the previous. The holder is told of each new
mandate (by email, else by SMS) and in the activity; a revoked mandate stops working at once.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from ..clock import utcnow
from ..errors import MediatorNotFound, NotFound
from ..extensions import db
from ..infra import mail_templates
from ..infra.client import ClientInfo
from ..models import Account, AuthSession, Mandate, Mediator
from . import activity, notices, sessions

SCOPES = ("consult", "declare", "documents")
DURATIONS_DAYS = (1, 31, 182, 365)


def grant(
    account: Account,
    session: AuthSession,
    mediator_code: str,
    scopes: list[str],
    duration_days: int,
    client: ClientInfo,
) -> Mandate:
    """Give the mediator of ``mediator_code`` a mandate over ``account``; tell the holder.

    The holder is told by email and in the activity. Needs a fresh sign-in.
    """
    sessions.require_fresh_sign_in(session)
    mediator = db.session.scalar(select(Mediator).where(Mediator.code == mediator_code))
    if mediator is None or mediator.disabled_at is not None:
        raise MediatorNotFound()
    now = utcnow()
    db.session.execute(
        update(Mandate)
        .where(
            Mandate.account_id == account.id,
            Mandate.mediator_id == mediator.id,
            Mandate.revoked_at.is_(None),
            Mandate.expires_at > now,
        )
        .values(revoked_at=now, revoked_reason="replaced")
        .execution_options(synchronize_session=False)
    )
    ordered = [scope for scope in SCOPES if scope in scopes]
    mandate = Mandate(
        account_id=account.id,
        mediator_id=mediator.id,
        mediator=mediator,
        scopes=ordered,
        created_at=now,
        expires_at=now + timedelta(days=duration_days),
    )
    db.session.add(mandate)
    db.session.flush()
    until = mail_templates.paris_date(mandate.expires_at)
    activity.record(
        "mandate_granted",
        account.id,
        client,
        mediator=mediator.name,
        organisation=mediator.organisation,
        scopes=ordered,
        until=until,
    )
    notices.tell_holder(
        account,
        mail_templates.mandate_granted(mediator.name, mediator.organisation, ordered, until, now),
    )
    return mandate


def of_account(account_id: str) -> list[Mandate]:
    """Return the holder's mandates, in force or not, newest first."""
    query = (
        select(Mandate)
        .options(joinedload(Mandate.mediator))
        .where(Mandate.account_id == account_id)
        .order_by(Mandate.created_at.desc(), Mandate.id)
    )
    return list(db.session.scalars(query))


def revoke(account_id: str, mandate_id: str, client: ClientInfo) -> None:
    """Revoke one of the holder's mandates: its delegated sessions end at once."""
    mandate = db.session.get(Mandate, mandate_id, options=[joinedload(Mandate.mediator)])
    # Another holder's mandate is "not found", never "forbidden": nothing is revealed.
    if mandate is None or mandate.account_id != account_id or mandate.revoked_at is not None:
        raise NotFound("Ce mandat n'existe pas ou a déjà été retiré.")
    mandate.revoked_at = utcnow()
    mandate.revoked_reason = "holder"
    activity.record(
        "mandate_revoked",
        account_id,
        client,
        mediator=mandate.mediator.name,
        organisation=mandate.mediator.organisation,
    )


def _in_force(now):
    return (
        Mandate.revoked_at.is_(None),
        Mandate.expires_at > now,
        Account.disabled_at.is_(None),
    )


def in_force_of_mediator(mediator_id: str) -> list[Mandate]:
    """Return the mandates a mediator may use now, newest first, with their holders."""
    query = (
        select(Mandate)
        .join(Account, Account.id == Mandate.account_id)
        .options(joinedload(Mandate.account))
        .where(Mandate.mediator_id == mediator_id, *_in_force(utcnow()))
        .order_by(Mandate.created_at.desc(), Mandate.id)
    )
    return list(db.session.scalars(query))


def in_force_for_mediator(mediator_id: str, mandate_id: str) -> Mandate:
    """Return the mediator's mandate ``mandate_id`` if it is in force; 404 otherwise."""
    mandate = db.session.scalar(
        select(Mandate)
        .join(Account, Account.id == Mandate.account_id)
        .where(Mandate.id == mandate_id, Mandate.mediator_id == mediator_id, *_in_force(utcnow()))
    )
    if mandate is None:
        raise NotFound("Ce mandat n'existe pas, a pris fin ou a été retiré.")
    return mandate


def end_all_of_mediator(mediator: Mediator, client: ClientInfo | None = None) -> int:
    """Revoke every mandate in force of a disabled mediator; each holder sees it."""
    now = utcnow()
    ended = list(
        db.session.scalars(
            select(Mandate).where(
                Mandate.mediator_id == mediator.id,
                Mandate.revoked_at.is_(None),
                Mandate.expires_at > now,
            )
        )
    )
    for mandate in ended:
        mandate.revoked_at = now
        mandate.revoked_reason = "mediator_disabled"
        activity.record(
            "mandate_ended",
            mandate.account_id,
            client,
            mediator=mediator.name,
            organisation=mediator.organisation,
        )
    return len(ended)
