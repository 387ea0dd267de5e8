"""Recovery at the counter: for someone who lost their password, their mailbox and their phone.

An agent (Caf reception, France Services) checks the person's identity, then issues a
one-time code with ``flask --app wsgi accounts recovery-code``. The code is 12
characters from an alphabet without look-alikes (no 0/O, 1/I/L), grouped by four,
from the CSPRNG (about 59 bits), stored only as an HMAC bound to the account; a new one
voids the previous. With it, ``POST /auth/recovery/counter`` sets a new password and,
when given, a new address or number, which the code verifies (the agent saw the person).

Wrong codes count per NIR before they are checked (unknown NIRs too): 5 in a row lock
counter recovery for that NIR, growing with each lock. A wrong code and an unknown NIR
answer the same, after the same work: the new password is hashed, the live code looked
up and the failure recorded in both paths (for an unknown NIR, bound to no account).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from ..clock import utcnow
from ..errors import InvalidRecoveryCode, TooManyAttempts, ValidationError
from ..extensions import db
from ..infra import mail_templates, passwords, throttle
from ..infra.client import ClientInfo
from ..infra.keys import keyed_hash, same
from ..models import Account, CounterCode, new_id
from ..nir import parse_nir
from ..phone import parse_mobile
from . import activity, contacts, notices, recovery
from .accounts import find_by_nir, nir_digest

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 12
GROUP = 4
DEFAULT_VALID_HOURS = 72
_AGENT = re.compile(r"^[A-Za-z0-9._-]{1,32}$")


def new_counter_code() -> str:
    """Return a fresh code like ``K7PM-Q2XD-9RTA`` from the CSPRNG."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + GROUP] for i in range(0, CODE_LENGTH, GROUP))


def normalize(code: str) -> str:
    """Read a typed code as issued: dashes and spaces dropped, upper case."""
    # Typographic dashes (U+2010 to U+2015) too: a phone's keyboard may put one in.
    return re.sub(r"[\s\-‐-―]", "", code).upper()


def _code_hmac(account_id: str, code: str) -> bytes:
    # The account id in the MAC: a code is useless for any other account.
    return keyed_hash("counter-code", f"{account_id}:{normalize(code)}")


@dataclass(frozen=True)
class IssuedCode:
    code: str
    expires_at: datetime
    nir_masked: str


def issue(
    nir: str, agent_id: str, reason: str, valid_hours: int = DEFAULT_VALID_HOURS
) -> IssuedCode:
    """Issue a counter code for ``nir``, voiding any earlier one; record the agent's id."""
    account = _account_of(nir)
    agent_id = check_agent(agent_id)
    reason = (reason or "").strip()
    if not reason or len(reason) > 200:
        raise ValidationError(errors={"reason": ["Indiquez un motif (200 caractères au plus)."]})
    if not 1 <= valid_hours <= 24 * 7:
        raise ValidationError(errors={"valid_hours": ["Entre 1 et 168 heures."]})
    now = utcnow()
    db.session.execute(
        update(CounterCode)
        .where(
            CounterCode.account_id == account.id,
            CounterCode.used_at.is_(None),
            CounterCode.voided_at.is_(None),
        )
        .values(voided_at=now)
        .execution_options(synchronize_session=False)
    )
    code = new_counter_code()
    expires_at = now + timedelta(hours=valid_hours)
    db.session.add(
        CounterCode(
            account_id=account.id,
            code_hmac=_code_hmac(account.id, code),
            agent_id=agent_id,
            reason=reason,
            created_at=now,
            expires_at=expires_at,
        )
    )
    activity.record("counter_code_issued", account.id, agent=agent_id, hours=valid_hours)
    return IssuedCode(code, expires_at, account.nir_masked)


def check_agent(agent_id: str) -> str:
    """Return the agent's id, trimmed; a validation error when it is not one."""
    agent_id = (agent_id or "").strip()
    if not _AGENT.match(agent_id):
        raise ValidationError(
            errors={"agent": ["Identifiant d'agent : 1 à 32 lettres, chiffres, « . _ - »."]}
        )
    return agent_id


def _account_of(nir: str) -> Account:
    canonical = parse_nir(nir or "")
    account = find_by_nir(canonical) if canonical else None
    if account is None:
        raise ValidationError(errors={"nir": ["Aucun compte pour ce numéro."]})
    return account


def redeem(
    nir: str,
    code: str,
    new_password: str,
    client: ClientInfo,
    *,
    email: str | None = None,
    phone: str | None = None,
) -> None:
    """Check the counter code; set the new password and contacts; tell every old contact."""
    passwords.check_new_password(new_password, nir=nir)
    new_email = _parse_email(email)
    new_phone = _parse_phone(phone)
    key = throttle.key_for("counter-code", nir_digest(nir))
    policy = throttle.password_policy()
    attempt = throttle.reserve(key, policy)
    if not attempt.allowed:
        raise TooManyAttempts(
            "Trop de codes incorrects ont été saisis pour ce numéro. Par sécurité, patientez "
            "avant de réessayer, ou demandez un nouveau code à votre Caf.",
            headers={"Retry-After": str(attempt.retry_after)},
            retry_after=attempt.retry_after,
        )
    account = find_by_nir(nir)
    # The same SELECT for an unknown NIR (an id no row has).
    issued = _live_code(account.id if account is not None else new_id())
    # The same work in every path: the password is hashed and a MAC compared.
    password_hash = passwords.hash_password(new_password)
    expected = issued.code_hmac if issued is not None else keyed_hash("counter-code", "-")
    matched = same(_code_hmac(account.id if account else "-", code), expected)
    if not matched or issued is None or account is None or account.disabled_at is not None:
        outcome = throttle.record_failure(attempt, policy)
        # Recorded for an unknown NIR too, bound to no account: the same INSERTs.
        account_id = account.id if account is not None else None
        activity.record("counter_code_failed", account_id, client)
        if outcome.locked:
            activity.record("counter_code_locked", account_id, client)
        raise InvalidRecoveryCode()
    if not _spend(issued):
        raise InvalidRecoveryCode()
    throttle.reset(key)
    previous = [("email", account.email), ("phone", account.phone)]
    _replace_contacts(account, new_email, new_phone, client)
    activity.record("counter_code_used", account.id, client, agent=issued.agent_id)
    recovery.reset_password(account, password_hash, how="counter", client=client)
    # Every address and number the holder had, and the new ones, hear of it.
    notice = recovery.recovered_notice(account, "counter")
    current = [("email", account.email), ("phone", account.phone)]
    for kind, value in dict.fromkeys(p for p in previous + current if p[1]):
        notices.tell(kind, value, notice)


def _spend(issued: CounterCode) -> bool:
    """Spend ``issued`` once, whatever the number of parallel requests."""
    result = db.session.execute(
        update(CounterCode)
        .where(
            CounterCode.id == issued.id,
            CounterCode.used_at.is_(None),
            CounterCode.voided_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _live_code(account_id: str) -> CounterCode | None:
    return db.session.scalar(
        select(CounterCode)
        .where(
            CounterCode.account_id == account_id,
            CounterCode.used_at.is_(None),
            CounterCode.voided_at.is_(None),
            CounterCode.expires_at > utcnow(),
        )
        .order_by(CounterCode.created_at.desc())
        .limit(1)
    )


def _parse_email(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    parsed = contacts.parse_email(value)
    if parsed is None:
        raise ValidationError(errors={"email": ["Adresse électronique invalide."]})
    return parsed


def _parse_phone(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    parsed = parse_mobile(value)
    if parsed is None:
        raise ValidationError(
            errors={"phone": ["Numéro de mobile invalide : 06 ou 07, ou un mobile d'outre-mer."]}
        )
    return parsed


def _replace_contacts(
    account: Account, email: str | None, phone: str | None, client: ClientInfo
) -> None:
    """Put the given contacts in force (the agent saw the person); tell every old one."""
    now = utcnow()
    previous = {"email": account.email, "phone": account.phone}
    for kind, value in (("email", email), ("phone", phone)):
        if value is None:
            continue
        if value == previous[kind]:
            setattr(account, f"{kind}_verified_at", now)
            continue
        setattr(account, kind, value)
        setattr(account, f"{kind}_verified_at", now)
        hint = contacts.mask(kind, value)
        change = "changed" if previous[kind] else "added"
        activity.record(f"contact_{change}", account.id, client, kind=kind, to=hint)
        # Every previous address and number hears of it, the replaced one included.
        for old_kind, old_value in previous.items():
            if old_value:
                notices.tell(
                    old_kind, old_value, mail_templates.counter_contact_replaced(kind, hint, now)
                )
