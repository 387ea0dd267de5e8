"""SMS texts: one GSM-7 segment, French, with the code, its validity and the warning."""

from __future__ import annotations

import re

import pytest

from api.infra import mail_templates, sms_templates
from api.infra.sms_templates import NotOneSegment, checked, fold


@pytest.mark.parametrize("text", ["é è à ù É Ç ä ö ü ñ ß Å æ", "Code : 123456 !", "@£$¥§¿¡"])
def test_the_basic_set_passes(text):
    assert checked(text) == text


@pytest.mark.parametrize("character", ["ç", "ê", "â", "î", "ô", "’", "œ", "€", "[", "{", "~"])
def test_characters_outside_the_basic_set_are_refused(character):
    with pytest.raises(NotOneSegment, match="GSM-7"):
        checked(f"Le code {character}")


def test_more_than_160_characters_is_refused():
    assert checked("a" * 160)
    with pytest.raises(NotOneSegment, match="161"):
        checked("a" * 161)


def test_fold_keeps_the_set_and_replaces_the_rest():
    assert fold("Vous êtes prévenu’e : ça reçoit « œuvre »") == (
        'Vous etes prévenu\'e : ca recoit " oeuvre "'
    )
    assert fold("é è à ù") == "é è à ù"


@pytest.mark.parametrize("ttl", [60, 900, 9999 * 60])
def test_sign_in_code_sms(ttl):
    text = sms_templates.sign_in_code("042917", ttl)
    assert checked(text) == text
    assert text.startswith("042917 ")  # the code first: phones show it in the notification
    assert f"valable {ttl // 60} minutes" in text
    assert "Aucun conseiller Caf ne vous le demandera" in text


def test_contact_code_sms():
    text = sms_templates.contact_code("042917", 900)
    assert checked(text) == text
    assert re.match(r"^042917\b", text) and "valable 15 minutes" in text


def test_every_notice_fits_one_segment():
    """Phone-only holders get each security notice by SMS: all of them must fit."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    subjects = [
        mail_templates.password_changed(now).subject,
        mail_templates.login_locked(5).subject,
        mail_templates.second_factor_failed(now).subject,
        mail_templates.authenticator_added("Pixel", now).subject,
        mail_templates.authenticator_removed("Pixel", now).subject,
        mail_templates.counter_regression("Pixel", now).subject,
        mail_templates.second_factor_locked(24).subject,
        mail_templates.password_change_locked(5).subject,
    ]
    for kind in ("email", "phone", "trusted_email"):
        for change in ("added", "changed", "removed"):
            subjects.append(mail_templates.contact_notice(kind, change, "x", now).subject)
    for subject in subjects:
        text = sms_templates.notice(subject)
        assert checked(text) == text
        assert "Si ce n'était pas vous" in text
