"""Where codes can go, and how the holder changes it (« Mes coordonnées »).

Three kinds of contact: ``email`` (the holder's address), ``phone`` (a French mobile,
E.164) and ``trusted_email`` (a person the holder trusts to pass codes on). Each is a
channel for codes: ``email``, ``sms``, ``trusted_email``.

A change needs a fresh session and a code sent to the NEW value only; nothing changes
until that code is typed, so a stolen access token, or a password alone, never moves
where codes go. For a trusted person, receiving that code and handing it to the holder,
who types it, is the proof that both agreed. Once a change is in force, the previous
value and the holder's other channels are told, with what to do if it was not them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ..clock import utcnow
from ..config import settings
from ..errors import ChannelUnavailable, LastChannel, NotFound, ValidationError
from ..extensions import db
from ..infra import mail_templates, mailer, sms, sms_templates
from ..infra.client import ClientInfo
from ..models import Account
from ..nir import mask_email
from ..phone import mask_phone, parse_mobile
from . import activity, codes, notices, sessions
from .tokens import Principal

KINDS = ("email", "phone", "trusted_email")
CHANNEL_OF = {"email": "email", "phone": "sms", "trusted_email": "trusted_email"}
KIND_OF = {channel: kind for kind, channel in CHANNEL_OF.items()}
# The second factor the password step offers for each channel, in the contract's order.
METHOD_OF = {"email": "email_otp", "sms": "sms_otp", "trusted_email": "trusted_email_otp"}

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


@dataclass(frozen=True)
class Destination:
    """Where one channel's codes go for an account."""

    channel: str
    address: str
    hint: str  # masked, safe to show before the second factor


@dataclass(frozen=True)
class CodeSent:
    """A code is on its way: how long it lives, when another may be asked, where it went."""

    channel: str
    expires_in: int
    resend_after: int
    destination_hint: str

    @property
    def email_hint(self) -> str | None:
        return self.destination_hint if self.channel == "email" else None


def parse_email(value: object) -> str | None:
    """Return the address, trimmed, or ``None`` when it cannot be one."""
    if not isinstance(value, str):
        return None
    address = value.strip()
    return address if len(address) <= 254 and _EMAIL.match(address) else None


def mask(kind: str, value: str) -> str:
    return mask_phone(value) if kind == "phone" else mask_email(value)


def destinations(account: Account) -> list[Destination]:
    """Return the channels this account can receive a code on, in the contract's order."""
    found = []
    if account.email:
        found.append(Destination("email", account.email, mask_email(account.email)))
    if account.phone:
        found.append(Destination("sms", account.phone, mask_phone(account.phone)))
    # Set only by a verified change; checked anyway, since codes then leave the holder.
    if account.trusted_email and account.trusted_email_verified_at is not None:
        found.append(
            Destination("trusted_email", account.trusted_email, mask_email(account.trusted_email))
        )
    return found


def destination(account: Account, channel: str | None) -> Destination:
    """Return where a code on ``channel`` goes (default: the first available channel)."""
    available = destinations(account)
    for candidate in available:
        if channel is None or candidate.channel == channel:
            return candidate
    raise ChannelUnavailable()


def mark_verified(account: Account, channel: str, address: str | None) -> None:
    """A code sent to ``address`` on ``channel`` was typed: that contact is proven."""
    kind, verified = KIND_OF[channel], f"{KIND_OF[channel]}_verified_at"
    # Only the value the code went to: it may have been changed since, in another session.
    if getattr(account, kind) == address and getattr(account, verified) is None:
        setattr(account, verified, utcnow())


def view(account: Account) -> dict[str, Any]:
    """The holder's contacts, in full (they are the holder's own)."""
    return {kind: _entry(account, kind) for kind in KINDS}


def _entry(account: Account, kind: str) -> dict[str, Any] | None:
    value = getattr(account, kind)
    if value is None:
        return None
    entry = {"value": value, "verified_at": getattr(account, f"{kind}_verified_at")}
    if kind == "trusted_email":
        entry["name"] = account.trusted_name
    return entry


# --- changing a contact ---------------------------------------------------------------


def start_change(
    principal: Principal, kind: str, value: str, name: str | None, client: ClientInfo
) -> CodeSent:
    """Send a code to the new value; nothing changes before it is typed back."""
    sessions.require_fresh(principal.session)
    account = principal.account
    address = _parse(kind, value)
    name = _check_name(kind, name)
    _check_new_value(account, kind, address)
    channel = CHANNEL_OF[kind]
    scope = codes.Scope.contact(principal.session.id, channel)
    code = codes.issue(account.id, scope, channel, address, contact_name=name)
    ttl = settings().OTP_TTL_SECONDS
    if kind == "phone":
        sms.queue(address, sms_templates.contact_code(code, ttl))
    elif kind == "email":
        mailer.queue(address, mail_templates.contact_code(code, ttl))
    else:
        mailer.queue(
            address, mail_templates.trusted_person_code(code, ttl, account.nir_masked, name)
        )
    hint = mask(kind, address)
    activity.record("contact_code_sent", account.id, client, kind=kind, to=hint)
    return CodeSent(channel, ttl, settings().OTP_RESEND_SECONDS, hint)


def _parse(kind: str, value: str) -> str:
    if kind == "phone":
        number = parse_mobile(value)
        if number is None:
            raise ValidationError(
                errors={
                    "value": [
                        "Indiquez un numéro de mobile français : 06 ou 07, ou un mobile "
                        "d'outre-mer."
                    ]
                }
            )
        return number
    address = parse_email(value)
    if address is None:
        raise ValidationError(
            errors={"value": ["Indiquez une adresse électronique valide, comme nom@exemple.fr."]}
        )
    return address


def _check_name(kind: str, name: str | None) -> str | None:
    if kind != "trusted_email":
        if name is not None:
            raise ValidationError(errors={"name": ["Seule une personne de confiance a un nom."]})
        return None
    if not name:
        raise ValidationError(errors={"name": ["Indiquez le nom de votre personne de confiance."]})
    return name


def _check_new_value(account: Account, kind: str, value: str) -> None:
    if getattr(account, kind) == value:
        raise ValidationError(errors={"value": ["C'est déjà ce qui est enregistré."]})
    # The trusted person is someone else: their address is never the holder's own.
    other = {"email": account.trusted_email, "trusted_email": account.email}.get(kind)
    if other is not None and other.lower() == value.lower():
        raise ValidationError(
            errors={
                "value": [
                    "Votre adresse et celle de votre personne de confiance doivent être "
                    "différentes."
                ]
            }
        )


def confirm_change(
    principal: Principal, kind: str, code: str, client: ClientInfo
) -> dict[str, Any] | None:
    """Check the code sent to the new value; put the value in force and tell everyone."""
    account = principal.account
    tried = codes.attempt(codes.Scope.contact(principal.session.id, CHANNEL_OF[kind]), code)
    if not tried.matched:
        activity.record("contact_code_failed", account.id, client, kind=kind)
        raise tried.refusal()
    account = _locked(account.id)
    previous = getattr(account, kind)
    previous_name = account.trusted_name
    now = utcnow()
    setattr(account, kind, tried.destination)
    setattr(account, f"{kind}_verified_at", now)
    if kind == "trusted_email":
        account.trusted_name = tried.contact_name
    change = "changed" if previous else "added"
    hint = mask(kind, tried.destination)
    activity.record(f"contact_{change}", account.id, client, kind=kind, to=hint)
    _tell_own_channels(account, kind, mail_templates.contact_notice(kind, change, hint, now))
    if previous is not None and kind != "trusted_email":
        notices.tell(kind, previous, mail_templates.contact_notice(kind, change, hint, now))
    if kind == "trusted_email":
        if previous is not None:
            _tell_trusted(previous, previous_name, account, added=False)
        _tell_trusted(tried.destination, tried.contact_name, account, added=True)
    return _entry(account, kind)


def remove(principal: Principal, kind: str, client: ClientInfo) -> None:
    """Remove a contact, unless no channel for codes would be left."""
    sessions.require_fresh(principal.session)
    # Locked: two removals at once cannot each leave "the other one".
    account = _locked(principal.account.id)
    value = getattr(account, kind)
    if value is None:
        raise NotFound("Aucune coordonnée de ce type n'est enregistrée.")
    if not any(getattr(account, other) for other in KINDS if other != kind):
        raise LastChannel()
    name = account.trusted_name
    setattr(account, kind, None)
    setattr(account, f"{kind}_verified_at", None)
    if kind == "trusted_email":
        account.trusted_name = None
    hint, now = mask(kind, value), utcnow()
    activity.record("contact_removed", account.id, client, kind=kind, to=hint)
    notice = mail_templates.contact_notice(kind, "removed", hint, now)
    _tell_own_channels(account, kind, notice)
    if kind == "trusted_email":
        _tell_trusted(value, name, account, added=False)
    else:
        notices.tell(kind, value, notice)


def _locked(account_id: str) -> Account:
    return db.session.execute(
        select(Account)
        .where(Account.id == account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def _tell_own_channels(account: Account, changed: str, message: mail_templates.MailMessage) -> None:
    """Tell the holder on their own channels other than the one that changed."""
    for kind in ("email", "phone"):
        value = getattr(account, kind)
        if kind != changed and value:
            notices.tell(kind, value, message)


def _tell_trusted(address: str, name: str | None, account: Account, *, added: bool) -> None:
    mailer.queue(address, mail_templates.trusted_person_notice(added, account.nir_masked, name))
