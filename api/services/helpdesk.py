"""What a helpdesk agent sees and does for a holder, without ever seeing a secret.

``accounts show`` prints masked contacts, devices, lock states and the last events,
never a hash, a full address or number, or a code. ``accounts unlock`` lifts every
lock of the account. Each action is recorded with the agent's id and shows in the
holder's « Mon activité ».
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from ..clock import utcnow
from ..errors import ValidationError
from ..extensions import db
from ..infra import throttle
from ..models import Account, AuthSession, CounterCode, KnownDevice
from ..nir import parse_nir
from . import activity, contacts, counter_recovery, recovery
from .accounts import find_by_nir


@dataclass
class Report:
    """The lines ``accounts show`` prints, in order."""

    lines: list[str] = field(default_factory=list)

    def add(self, label: str, value: object) -> None:
        self.lines.append(f"{label}: {value}")


def _account(nir: str) -> Account:
    canonical = parse_nir(nir or "")
    account = find_by_nir(canonical) if canonical else None
    if account is None:
        raise ValidationError(errors={"nir": ["Aucun compte pour ce numéro."]})
    return account


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else "-"


def _locks(account: Account) -> dict[str, int]:
    """Seconds left on each lock of the account (0: not locked)."""
    return {
        "sign-in (password, per NIR)": throttle.retry_after(
            throttle.key_for("nir", account.nir_hash)
        ),
        "second factor (codes, biometrics)": throttle.retry_after(
            throttle.key_for("second-factor", account.id)
        ),
        "password change": throttle.retry_after(throttle.key_for("password-change", account.id)),
        "recovery by code": throttle.retry_after(throttle.key_for("recovery", account.nir_hash)),
        "counter code": throttle.retry_after(throttle.key_for("counter-code", account.nir_hash)),
    }


def show(nir: str, agent_id: str | None = None) -> Report:
    """Describe the account of ``nir`` for a helpdesk agent (recorded when ``agent_id``)."""
    account = _account(nir)
    report = Report()
    report.add("account", account.id)
    report.add("nir", account.nir_masked)
    report.add("created", _when(account.created_at))
    report.add("disabled", _when(account.disabled_at) if account.disabled_at else "no")
    report.add("password changed", _when(account.password_changed_at))
    for kind in contacts.KINDS:
        value = getattr(account, kind)
        verified = getattr(account, f"{kind}_verified_at")
        shown = f"{contacts.mask(kind, value)} (verified {_when(verified)})" if value else "none"
        report.add(kind, shown)
    report.add("biometric devices", len(account.authenticators))
    for device in account.authenticators:
        state = " BLOCKED (looked copied)" if device.flagged_at else ""
        report.lines.append(
            f"  - {device.name} ({device.device_type}), added {_when(device.created_at)}, "
            f"last used {_when(device.last_used_at)}{state}"
        )
    now = utcnow()
    known = db.session.execute(
        select(func.count(KnownDevice.id), func.max(KnownDevice.last_used_at)).where(
            KnownDevice.account_id == account.id, KnownDevice.revoked_at.is_(None)
        )
    ).one()
    report.add("known apps and browsers", f"{known[0]} (last used {_when(known[1])})")
    open_sessions = db.session.scalar(
        select(func.count(AuthSession.id)).where(
            AuthSession.account_id == account.id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
        )
    )
    report.add("open sessions", open_sessions)
    for label, seconds in _locks(account).items():
        report.add(f"lock {label}", f"{seconds} s left" if seconds else "none")
    live = db.session.scalar(
        select(CounterCode)
        .where(
            CounterCode.account_id == account.id,
            CounterCode.used_at.is_(None),
            CounterCode.voided_at.is_(None),
            CounterCode.expires_at > now,
        )
        .limit(1)
    )
    report.add(
        "counter code",
        f"issued {_when(live.created_at)} by {live.agent_id}, valid until {_when(live.expires_at)}"
        if live
        else "none",
    )
    report.lines.append("last events:")
    for event in activity.recent_activity(account.id, limit=20):
        report.lines.append(f"  {_when(event.created_at)} {event.type}: {activity.describe(event)}")
    if agent_id is not None:
        activity.record("operator_viewed", account.id, agent=counter_recovery.check_agent(agent_id))
    return report


def unlock(nir: str, agent_id: str) -> Account:
    """Lift every lock of the account of ``nir``; record it with the agent's id."""
    agent_id = counter_recovery.check_agent(agent_id)
    account = _account(nir)
    recovery.lift_sign_in_locks(account)
    throttle.reset(throttle.key_for("recovery", account.nir_hash))
    throttle.reset(throttle.key_for("counter-code", account.nir_hash))
    activity.record("operator_unlocked", account.id, agent=agent_id)
    return account
