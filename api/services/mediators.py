"""Mediator accounts: created and disabled by operators; their password.

A mediator never signs up. An operator creates the account and hands over, once, what
the command prints: the TOTP enrolment URI, the public mediator code (what holders type
to grant a mandate) and an initial password that must be changed at first sign-in.
Disabling a mediator ends their sessions, their delegated sessions and their mandates
at once.
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select

from ..clock import utcnow
from ..errors import InvalidCurrentPassword, TooManyAttempts, ValidationError, WeakPassword
from ..extensions import db
from ..infra import mail_templates, mailer, passwords, throttle, totp
from ..infra.client import ClientInfo
from ..models import Mandate, Mediator, MediatorSession, new_id
from . import activity, mandates, mediator_sessions

# Upper-case letters and digits a person cannot misread or mistype: no 0/O, 1/I/L.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
CODE_PATTERN = rf"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$"
# A code as a person may type it: either case, spaces and dashes anywhere.
TYPED_CODE_PATTERN = r"^[ -]*(?:[A-HJKMNP-Za-hjkmnp-z2-9][ -]*){8}$"
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


@dataclass(frozen=True)
class Enrolment:
    """What the operator hands to a new mediator, once: never stored in clear."""

    mediator: Mediator
    totp_uri: str
    mediator_code: str
    password: str


@dataclass(frozen=True)
class Listed:
    mediator: Mediator
    mandates_in_force: int


def normalise_email(email: str) -> str:
    return email.strip().lower()


def normalise_code(value: str) -> str:
    """Return a typed mediator code in canonical form: upper case, no spaces or dashes."""
    return re.sub(r"[ -]", "", value).upper()


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def new_initial_password() -> str:
    """Return a random initial password: 16 unambiguous characters (about 79 bits)."""
    raw = "".join(secrets.choice(CODE_ALPHABET.lower() + CODE_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def find_by_email(email: str) -> Mediator | None:
    return db.session.scalar(select(Mediator).where(Mediator.email == normalise_email(email)))


def create_mediator(
    email: str,
    name: str,
    organisation: str,
    *,
    password: str | None = None,
    totp_secret: str | None = None,
    code: str | None = None,
    must_change_password: bool = True,
) -> Enrolment:
    """Create a mediator; raise :class:`ValidationError` on bad input or a taken address.

    Password, TOTP secret and code are drawn at random unless given (the demo gives them).
    """
    email = normalise_email(email)
    errors: dict[str, list[str]] = {}
    if not _EMAIL.match(email) or len(email) > 254:
        errors["email"] = ["Adresse électronique invalide."]
    name, organisation = name.strip(), organisation.strip()
    for field, value, limit in (("name", name, 120), ("organisation", organisation, 160)):
        if not value or len(value) > limit or any(ord(ch) < 32 for ch in value):
            errors[field] = [f"Obligatoire, {limit} caractères au plus."]
    if not errors and find_by_email(email) is not None:
        errors["email"] = ["Un aidant existe déjà avec cette adresse."]
    if errors:
        raise ValidationError(errors=errors)
    password = password or new_initial_password()
    secret = totp_secret or totp.new_secret()
    code = code or _free_code()
    now = utcnow()
    mediator = Mediator(
        id=new_id(),
        email=email,
        name=name,
        organisation=organisation,
        code=code,
        password_hash=passwords.hash_password(password),
        must_change_password=must_change_password,
        password_changed_at=now,
        created_at=now,
    )
    mediator.totp_secret = totp.seal(secret, mediator.id)
    db.session.add(mediator)
    db.session.flush()
    return Enrolment(mediator, totp.enrolment_uri(secret, email), code, password)


def _free_code() -> str:
    # 31^8 codes: a collision is rare, and simply drawn again.
    while True:
        code = new_code()
        if db.session.scalar(select(Mediator.id).where(Mediator.code == code)) is None:
            return code


def disable(email: str) -> tuple[Mediator, int, int] | None:
    """Disable a mediator: their sessions, delegated sessions and mandates end at once.

    Return the mediator, how many of their sessions and mandates ended; None when no
    mediator has this address.
    """
    mediator = find_by_email(email)
    if mediator is None:
        return None
    if mediator.disabled_at is None:
        mediator.disabled_at = utcnow()
    # Delegated sessions hang on the mediator's sessions and mandates: they end too.
    ended_sessions = mediator_sessions.revoke_all(mediator.id, reason="disabled")
    ended_mandates = mandates.end_all_of_mediator(mediator)
    activity.record("mediator_disabled", None, mediator_id=mediator.id)
    return mediator, ended_sessions, ended_mandates


def listing() -> list[Listed]:
    """Return every mediator with how many mandates they hold in force."""
    now = utcnow()
    in_force = (
        select(func.count(Mandate.id))
        .where(
            Mandate.mediator_id == Mediator.id,
            Mandate.revoked_at.is_(None),
            Mandate.expires_at > now,
        )
        .scalar_subquery()
    )
    rows = db.session.execute(select(Mediator, in_force).order_by(Mediator.created_at))
    return [Listed(mediator, count) for mediator, count in rows]


def change_password(
    mediator: Mediator,
    session: MediatorSession,
    current_password: str,
    new_password: str,
    client: ClientInfo,
) -> None:
    """Replace the password, end the mediator's other sessions and tell them by email.

    Wrong current passwords are counted before they are checked, as for holders. The
    operator's initial password cannot be kept: the new one must differ from it.
    """
    key = throttle.key_for("mediator-password-change", mediator.id)
    policy = throttle.password_policy()
    attempt = throttle.reserve(key, policy)
    if not attempt.allowed:
        wait = attempt.retry_after
        raise TooManyAttempts(
            "Trop d'essais avec un mot de passe actuel incorrect. Par sécurité, patientez "
            f"{max(1, math.ceil(wait / 60))} minute(s) avant de réessayer.",
            headers={"Retry-After": str(wait)},
            retry_after=wait,
        )
    if not passwords.verify_password(mediator.password_hash, current_password):
        throttle.record_failure(attempt, policy)
        activity.record("mediator_password_change_failed", None, client, mediator_id=mediator.id)
        raise InvalidCurrentPassword(
            attempts_remaining=max(0, policy.max_failures - attempt.number)
        )
    throttle.reset(key)
    passwords.check_new_password(new_password)
    if passwords.normalize(new_password) == passwords.normalize(current_password):
        raise WeakPassword("Choisissez un mot de passe différent de l'actuel.", reason="unchanged")
    now = utcnow()
    mediator.password_hash = passwords.hash_password(new_password)
    mediator.password_changed_at = now
    mediator.must_change_password = False
    mediator_sessions.revoke_all(
        mediator.id, reason="password_changed", except_session_id=session.id
    )
    activity.record("mediator_password_changed", None, client, mediator_id=mediator.id)
    mailer.queue(mediator.email, mail_templates.mediator_password_changed(now))
