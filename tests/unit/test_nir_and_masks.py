import pytest

from api.nir import mask_email, mask_nir, parse_nir


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1850575123456", "1850575123456"),
        ("185052a123456", "185052A123456"),
        ("285052B123456", "285052B123456"),
    ],
)
def test_parse_nir_accepts_and_canonicalises(raw, expected):
    assert parse_nir(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "185057512345",
        "18505751234567",
        "18505A5123456",
        "185052C123456",
        " 850575123456",
        "１850575123456",
        None,
        1850575123456,
    ],
)
def test_parse_nir_refuses(raw):
    assert parse_nir(raw) is None


def test_masks_hide_what_matters():
    assert mask_nir("1850575123456") == "1 85 •• •• ••• 456"
    assert mask_email("marie.dupont@exemple.fr") == "m•••@e•••.fr"
    assert mask_email("x@localhost") == "x•••@l•••"
