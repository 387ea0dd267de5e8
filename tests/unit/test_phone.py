"""French mobile numbers: what is accepted, how it is stored and shown."""

from __future__ import annotations

import pytest

from api.phone import mask_phone, parse_mobile


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("06 12 34 56 78", "+33612345678"),
        ("0612345678", "+33612345678"),
        ("06.12.34.56.78", "+33612345678"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("0033612345678", "+33612345678"),
        ("07 56 12 34 56", "+33756123456"),
        ("0690 12 34 56", "+590690123456"),  # Guadeloupe
        ("0696 12 34 56", "+596696123456"),  # Martinique
        ("0694 12 34 56", "+594694123456"),  # Guyane
        ("0692 12 34 56", "+262692123456"),  # La Réunion
        ("0639 40 12 34", "+262639401234"),  # Mayotte
        ("+590 690 12 34 56", "+590690123456"),
    ],
)
def test_french_mobiles_are_stored_in_e164(typed, stored):
    assert parse_mobile(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "01 42 00 00 00",  # a landline cannot receive an SMS
        "09 70 00 00 00",  # nor a VoIP box number
        "08 00 00 00 00",
        "07 12 34 56 78",  # not an allocated mobile range
        "+44 7911 123456",  # a British mobile
        "+33 690 12 34 56",  # a Guadeloupe number under the metropolitan code
        "0612",
        "06 12 34 56 78 9",
        "",
        "   ",
        "zéro six",
        "0" * 40,
        None,
        612345678,
    ],
)
def test_anything_but_a_french_mobile_is_refused(typed):
    assert parse_mobile(typed) is None


@pytest.mark.parametrize(
    ("stored", "shown"),
    [("+33612345678", "06 •• •• •• 78"), ("+590690123456", "06 •• •• •• 56")],
)
def test_numbers_are_shown_masked_as_dialled_at_home(stored, shown):
    assert mask_phone(stored) == shown
