"""Known devices: an app install or a browser that has completed a sign-in before.

OWASP's device-cookie pattern against lockout abuse: a stranger who types a NIR with
wrong passwords locks that NIR for strangers only. A login that presents a valid
``device_token`` of the NIR's account is judged by that device's own failure count.

The token is ``dt_<device id>.<MAC of the id>``: nothing secret is stored, the same
token can be handed back after every sign-in of that device, and a database copy alone
cannot forge one. The row makes a device revocable and ties it to one account.
"""

from __future__ import annotations

import base64
import re

from sqlalchemy import select, update

from ..clock import utcnow
from ..extensions import db
from ..infra.keys import keyed_hash, same
from ..models import KnownDevice, new_id

PREFIX = "dt"
_TOKEN = re.compile(r"^dt_([0-9a-f]{32})\.([A-Za-z0-9_-]{43})$")


def _mac(device_id: str) -> str:
    digest = keyed_hash("device-token", device_id)
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _token(device_id: str) -> str:
    """Return the device token of a device: the same one at every sign-in."""
    return f"{PREFIX}_{device_id}.{_mac(device_id)}"


def find_live(token: str | None) -> KnownDevice | None:
    """Return the live device behind a genuine ``token``, whichever account it serves.

    For a sign-in whose account is not known yet (a passkey): :func:`remember` checks the
    device against the account once the sign-in has named it.
    """
    match = _TOKEN.match(token or "")
    if match is None or not same(match[2].encode(), _mac(match[1]).encode()):
        return None
    device = db.session.scalar(select(KnownDevice).where(KnownDevice.id == match[1]))
    if device is None or device.revoked_at is not None:
        return None
    return device


def find_valid(token: str | None, account_id: str) -> KnownDevice | None:
    """Return the live device behind ``token`` if it belongs to ``account_id``."""
    device = find_live(token)
    if device is None or device.account_id != account_id:
        return None
    return device


def remember(account_id: str, device_id: str | None) -> str:
    """Mark the device that completed a sign-in as used (new if need be); return its token."""
    now = utcnow()
    if device_id is not None:
        known = db.session.execute(
            update(KnownDevice)
            .where(
                KnownDevice.id == device_id,
                KnownDevice.account_id == account_id,
                KnownDevice.revoked_at.is_(None),
            )
            .values(last_used_at=now)
            .returning(KnownDevice.id)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if known is not None:
            return _token(known)
    device_id = new_id()
    db.session.add(
        KnownDevice(id=device_id, account_id=account_id, created_at=now, last_used_at=now)
    )
    return _token(device_id)
