"""The NIR (French social-security number): parsing and masking.

Sign-in uses its first 13 characters. Characters 6-7 are the département of birth,
which is ``2A`` or ``2B`` for Corsica; every other character is a digit.
"""

from __future__ import annotations

import re

_NIR = re.compile(r"^[0-9]{5}(?:[0-9]{2}|2[AB])[0-9]{6}$")


def parse_nir(value: object) -> str | None:
    """Return the canonical NIR (upper case) or ``None`` when ``value`` is not one."""
    if not isinstance(value, str):
        return None
    candidate = value.upper()
    if len(candidate) != 13 or not _NIR.match(candidate):
        return None
    return candidate


def mask_nir(nir: str) -> str:
    """Show only the sex and birth year and the last three digits: ``1 85 •• •• ••• 456``."""
    return f"{nir[0]} {nir[1:3]} •• •• ••• {nir[-3:]}"


def mask_email(email: str) -> str:
    """Hint at an address without revealing it: ``marie@exemple.fr`` -> ``m•••@e•••.fr``."""
    local, _, domain = email.rpartition("@")
    host, dot, tld = domain.rpartition(".")
    if not host:
        host, tld, dot = domain, "", ""
    return f"{local[:1]}•••@{host[:1]}•••{dot}{tld}"
