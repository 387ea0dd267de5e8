"""Ways the simulated phone can misbehave, as named options.

Each fault changes what the software authenticator produces; the server must refuse
all but ``synced`` (a passkey synced between devices) and ``counter_zero`` (an
authenticator without a counter), which are legitimate.
"""

from __future__ import annotations

import os
from typing import Any

from .device import Device, android_origin

FAULTS = {
    "uv_failed": "the biometric check failed: UV flag not set",
    "user_absent": "nobody touched the phone: UP flag not set",
    "cloned": "a cloned authenticator: its counter is not above the last one accepted",
    "tampered_signature": "the assertion's signature was altered",
    "wrong_app_signature": "an app signed with another certificate (wrong origin)",
    "replay": "the previous assertion sent again",
    "synced": "a synced passkey (BE and BS flags set)",
    "counter_zero": "an authenticator whose counter is always 0",
    "framed": "the page ran in another site's frame (crossOrigin true, topOrigin set)",
}


class UnknownFault(ValueError):
    pass


def check(faults: list[str]) -> list[str]:
    for fault in faults:
        if fault not in FAULTS:
            raise UnknownFault(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
    return faults


def _foreign_origin() -> str:
    return android_origin(os.urandom(32).hex())


def create_options(faults: list[str]) -> dict[str, Any]:
    """Keyword arguments for ``SoftwareAuthenticator.create`` under these faults."""
    kwargs: dict[str, Any] = {}
    if "uv_failed" in faults:
        kwargs["user_verified"] = False
    if "user_absent" in faults:
        kwargs["user_present"] = False
    if "wrong_app_signature" in faults:
        kwargs["origin"] = _foreign_origin()
    if "synced" in faults:
        kwargs.update(backup_eligible=True, backup_state=True)
    if "framed" in faults:
        kwargs.update(cross_origin=True, top_origin="https://caf-securite.example")
    return kwargs


def get_options(faults: list[str], device: Device, options: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``SoftwareAuthenticator.get`` under these faults."""
    # The faults a ceremony of either kind can suffer, then those of an assertion only.
    kwargs = create_options(faults)
    if "tampered_signature" in faults:
        kwargs["tamper_signature"] = True
    if "counter_zero" in faults:
        kwargs.update(sign_count=0, counter_step=0)
    if "cloned" in faults:
        # The clone was copied before the last accepted use, so its counter cannot be above
        # what the server holds. Not the phone's own counter minus one: refused attempts
        # moved that on without the server ever seeing it.
        credential = device.authenticator.credential_for(options, None, options.get("rpId"))
        kwargs["sign_count"] = credential.accepted_sign_count
    return kwargs
