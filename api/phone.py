"""French mobile numbers: parsing, validation and masking (with ``phonenumbers``).

Codes go by SMS only to a mobile: metropolitan 06/07 numbers and the mobiles of the
overseas départements and collectivities where the Caf serves people. A number is
stored in E.164 (``+33612345678``) and shown masked, as a person writes it at home
(``06 •• •• •• 78``).

Overseas mobiles are written at home with ten digits too (``0690 12 34 56`` in
Guadeloupe) but carry their own country code (+590), so a national number that is no
metropolitan mobile is tried in each overseas region in turn.
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

# Metropolitan France first, then Guadeloupe, Martinique, Guyane, La Réunion, Mayotte,
# Saint-Barthélemy, Saint-Martin and Saint-Pierre-et-Miquelon.
REGIONS = ("FR", "GP", "MQ", "GF", "RE", "YT", "BL", "MF", "PM")
_MAX_INPUT = 32


def parse_mobile(value: object) -> str | None:
    """Return the E.164 form of a French mobile number, or ``None`` for anything else."""
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_INPUT:
        return None
    text = value.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    for region in REGIONS:
        try:
            number = phonenumbers.parse(text, region)
        except NumberParseException:
            return None
        if _is_french_mobile(number):
            return phonenumbers.format_number(number, PhoneNumberFormat.E164)
        if text.startswith("+"):  # an international number names its region itself
            return None
    return None


def _is_french_mobile(number: phonenumbers.PhoneNumber) -> bool:
    return (
        phonenumbers.is_valid_number(number)
        and phonenumbers.region_code_for_number(number) in REGIONS
        and phonenumbers.number_type(number) == PhoneNumberType.MOBILE
    )


def national_digits(e164: str) -> str:
    """Return the ten digits a person dials at home: ``+590690123456`` -> ``0690123456``."""
    number = phonenumbers.parse(e164, None)
    return "0" + phonenumbers.national_significant_number(number)


def mask_phone(e164: str) -> str:
    """Hint at a number without revealing it: ``+33612345678`` -> ``06 •• •• •• 78``."""
    digits = national_digits(e164)
    return f"{digits[:2]} •• •• •• {digits[-2:]}"
