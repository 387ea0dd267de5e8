"""Stored authenticators: the queries the ceremonies and the account pages need."""

from __future__ import annotations

from sqlalchemy import exists, select

from ..extensions import db
from ..models import Authenticator
from .ceremonies import StoredDescriptor


def of_account(account_id: str) -> list[Authenticator]:
    """Return every authenticator of the account, flagged ones included, oldest first."""
    query = (
        select(Authenticator)
        .where(Authenticator.account_id == account_id)
        .order_by(Authenticator.created_at)
    )
    return list(db.session.scalars(query))


def usable_of_account(account_id: str) -> list[Authenticator]:
    return [a for a in of_account(account_id) if a.flagged_at is None]


def has_usable_authenticator(account_id: str) -> bool:
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    Authenticator.account_id == account_id, Authenticator.flagged_at.is_(None)
                )
            )
        )
    )


def by_credential_id(credential_id: bytes) -> Authenticator | None:
    return db.session.scalar(
        select(Authenticator).where(Authenticator.credential_id == credential_id)
    )


def descriptors(authenticators: list[Authenticator]) -> list[StoredDescriptor]:
    return [StoredDescriptor(a.credential_id, list(a.transports or [])) for a in authenticators]
