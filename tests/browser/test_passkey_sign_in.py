"""Passkey sign-in on the page: autofill on the NIR field, and the « Se connecter avec la
biométrie » button, in Chromium with a virtual authenticator that keeps resident keys."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.test_web_journey import EMAIL, NIR, PASSWORD, sign_in_with_code


def enrol_this_phone(phone, smtp) -> None:
    page = phone.page
    page.get_by_label("Nom de cet appareil").fill("Pixel de test")
    page.get_by_role("button", name="Activer la connexion biométrique").click()
    expect(page.locator("#devices")).to_contain_text("Pixel de test")
    # The browser made a discoverable credential and said so (credProps).
    [credential] = phone.credentials()
    assert credential["isResidentCredential"] is True
    expect(page.locator("#devices")).to_contain_text("Peut vous connecter seul")
    # The mail worker sends « Nouvel appareil » once the request commits: wait for it, so
    # that it is not counted as mail sent by a later step.
    smtp.wait_for(EMAIL, "appareil")


def test_passkey_autofill_signs_in_without_nir_or_password(web_server, phone, smtp):
    web_server.create_account(NIR, EMAIL, PASSWORD)
    page = phone.page
    page.goto(web_server.url + "/")
    nir_field = page.locator("#screen-login").get_by_label("Numéro de sécurité sociale")
    assert nir_field.get_attribute("autocomplete") == "username webauthn"
    expect(page.get_by_role("heading", name="Connexion")).to_be_visible()
    # Nothing to offer yet: the autofill request waits, the form works as before.
    sign_in_with_code(phone, web_server.url, smtp)
    enrol_this_phone(phone, smtp)
    page.get_by_role("button", name="Se déconnecter").click()

    # The next visit: the browser offers the passkey in the NIR field's suggestions, and
    # the virtual authenticator picks it. No NIR, no password, no code.
    mails_before = len(smtp.to(EMAIL))
    page.goto(web_server.url + "/")
    expect(page.get_by_role("heading", name="Gérer mon compte")).to_be_visible()
    expect(page.locator("#message")).to_have_text("Vous êtes connecté avec la biométrie.")
    expect(page.locator("#activity")).to_contain_text(
        "Connexion avec la biométrie seule, sans mot de passe."
    )
    assert phone.webauthn_requests() == ["conditional"]  # autofill, not a button
    assert len(smtp.to(EMAIL)) == mails_before
    phone.screenshot("09-connexion-par-suggestion")


def test_the_button_signs_in_where_the_browser_has_no_autofill(
    web_server, phone_without_autofill, smtp
):
    phone = phone_without_autofill
    web_server.create_account(NIR, EMAIL, PASSWORD)
    page = phone.page
    sign_in_with_code(phone, web_server.url, smtp)
    enrol_this_phone(phone, smtp)
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.locator("#message")).to_have_text("Vous êtes déconnecté.")

    button = page.get_by_role("button", name="Se connecter avec la biométrie")
    expect(button).to_be_visible()
    phone.screenshot("10-bouton-biometrie")
    # The fingerprint is not recognised: refused, with the way forward.
    phone.set_user_verified(False)
    button.click()
    alert = page.get_by_role("alert")
    expect(alert).to_have_text(re.compile("numéro de sécurité sociale et votre mot de passe"))
    expect(page.get_by_role("heading", name="Connexion")).to_be_visible()
    # Recognised: signed in with the phone alone.
    phone.set_user_verified(True)
    button.click()
    expect(page.locator("#message")).to_have_text("Vous êtes connecté avec la biométrie.")
    expect(page.locator("#sessions")).to_contain_text("biométrie")
    assert phone.webauthn_requests() == ["modal", "modal"]


def test_switched_off_the_button_goes_away(start_live_server, smtp, phone):
    server = start_live_server(
        host="localhost",
        WEBAUTHN_RP_ID="localhost",
        WEBAUTHN_ORIGINS="http://localhost:{port}",
        PASSKEY_SIGN_IN="false",
    )
    page = phone.page
    page.goto(server.url + "/")
    expect(page.get_by_role("button", name="Se connecter avec la biométrie")).to_be_hidden()
    expect(page.get_by_role("button", name="Se connecter", exact=True)).to_be_visible()
