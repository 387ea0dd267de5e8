"""The whole journey through the page's own controls, in Chromium with a virtual authenticator."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import expect

NIR = "2991299000077"
PASSWORD = "Une phrase de passe solide"
EMAIL = "navigateur@exemple.fr"


def sign_in_with_password(phone, url: str, nir: str = NIR) -> None:
    page = phone.page
    page.goto(url + "/")
    login = page.locator("#screen-login")
    login.get_by_label("Numéro de sécurité sociale").fill(nir)
    login.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Se connecter", exact=True).click()
    expect(page.get_by_role("heading", name="Vérification")).to_be_visible()


def sign_in_with_code(phone, url: str, smtp, nir: str = NIR, email: str = EMAIL) -> None:
    sign_in_with_password(phone, url, nir)
    page = phone.page
    page.get_by_role("button", name="Envoyer le code").click()
    expect(page.locator("#code-sent")).to_contain_text("Un code a été envoyé à")
    page.get_by_label("Code à 6 chiffres reçu par courriel").fill(smtp.last_code(email))
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("heading", name="Gérer mon compte")).to_be_visible()


def test_full_journey_with_a_virtual_authenticator(web_server, phone_without_autofill, smtp):
    # Without passkey autofill, which would sign the enrolled phone in alone (see
    # test_passkey_sign_in.py): this journey goes through the password every time.
    phone = phone_without_autofill
    web_server.create_account(NIR, EMAIL, PASSWORD)
    page = phone.page
    page.goto(web_server.url + "/")
    expect(page.get_by_role("heading", name="Connexion")).to_be_visible()
    phone.screenshot("01-connexion")

    sign_in_with_password(phone, web_server.url)
    expect(page.get_by_role("button", name="Utiliser la biométrie")).to_be_hidden()
    phone.screenshot("02-verification")
    page.get_by_role("button", name="Envoyer le code").click()
    expect(page.locator("#resend-countdown")).to_contain_text("nouveau code dans")
    expect(page.get_by_role("button", name="Envoyer le code")).to_be_disabled()
    code_field = page.get_by_label("Code à 6 chiffres reçu par courriel")
    assert code_field.get_attribute("autocomplete") == "one-time-code"
    assert code_field.get_attribute("inputmode") == "numeric"
    phone.screenshot("03-code-envoye")
    code_field.fill(smtp.last_code(EMAIL))
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("heading", name="Gérer mon compte")).to_be_visible()
    expect(page.locator("#message")).to_have_text("Vous êtes connecté.")

    # Enable biometric sign-in from « Gérer mon compte ».
    page.get_by_label("Nom de cet appareil").fill("Pixel de test")
    page.get_by_role("button", name="Activer la connexion biométrique").click()
    expect(page.locator("#message")).to_have_text(
        "La connexion biométrique est activée sur « Pixel de test »."
    )
    expect(page.locator("#devices")).to_contain_text("Pixel de test")
    assert len(phone.credentials()) == 1
    phone.screenshot("04-gerer-mon-compte")
    enrolment_mail = smtp.wait_for(EMAIL, "appareil")  # sent by the worker once the request commits
    assert enrolment_mail["Subject"] == "Nouvel appareil associé à votre compte"

    # Sign out, then in again with biometrics: no email this time.
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.locator("#message")).to_have_text("Vous êtes déconnecté.")
    mails_before = len(smtp.to(EMAIL))
    sign_in_with_password(phone, web_server.url)
    biometrics = page.get_by_role("button", name="Utiliser la biométrie")
    expect(biometrics).to_be_visible()
    phone.screenshot("05-biometrie-proposee")
    biometrics.click()
    expect(page.locator("#message")).to_have_text("Vous êtes connecté avec la biométrie.")
    expect(page.locator("#sessions")).to_contain_text("biométrie")
    assert len(smtp.to(EMAIL)) == mails_before

    # Rename, then remove the device.
    page.once("dialog", lambda dialog: dialog.accept("Téléphone de Lou"))
    page.get_by_role("button", name="Renommer Pixel de test").click()
    expect(page.locator("#devices")).to_contain_text("Téléphone de Lou")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Retirer Téléphone de Lou").click()
    # This connection was opened with that device: removing it signs this browser out.
    expect(page.locator("#message")).to_contain_text("Cette connexion avait été ouverte avec lui")
    expect(page.get_by_role("heading", name="Connexion")).to_be_visible()
    phone.screenshot("06-appareil-retire")

    # The browser keeps its device token: a stranger's wrong passwords lock the NIR for
    # strangers only, and this browser still signs in. Biometrics are no longer offered.
    assert page.evaluate("localStorage.getItem('moncompte.device_token')").startswith("dt_")
    for _ in range(5):
        requests.post(
            web_server.url + "/api/v1/auth/login",
            json={"nir": NIR, "password": "mauvais mot de passe"},
            timeout=30,
        )
    stranger = requests.post(
        web_server.url + "/api/v1/auth/login", json={"nir": NIR, "password": PASSWORD}, timeout=30
    )
    assert stranger.status_code == 429
    sign_in_with_password(phone, web_server.url)
    expect(page.get_by_role("button", name="Utiliser la biométrie")).to_be_hidden()


def test_an_unverified_user_can_neither_enrol_nor_sign_in(
    web_server, unverified_phone, phone_without_autofill, smtp
):
    phone = phone_without_autofill
    web_server.create_account(NIR, EMAIL, PASSWORD)
    page = unverified_phone.page
    sign_in_with_code(unverified_phone, web_server.url, smtp)
    page.get_by_role("button", name="Activer la connexion biométrique").click()
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_have_text(re.compile(r"biométrique|appareil"))
    expect(page.locator("#devices")).to_contain_text("Aucun appareil associé")
    unverified_phone.screenshot("07-refus-activation")

    # Another person's phone verified its user once, then fails to: sign-in is refused.
    other_nir, other_email = "1990575000078", "autre@exemple.fr"
    web_server.create_account(other_nir, other_email, PASSWORD)
    sign_in_with_code(phone, web_server.url, smtp, other_nir, other_email)
    phone.page.get_by_role("button", name="Activer la connexion biométrique").click()
    expect(phone.page.locator("#devices")).to_contain_text("Mon téléphone")
    phone.page.get_by_role("button", name="Se déconnecter").click()
    phone.set_user_verified(False)
    sign_in_with_password(phone, web_server.url, other_nir)
    phone.page.get_by_role("button", name="Utiliser la biométrie").click()
    refusal = phone.page.get_by_role("alert")
    expect(refusal).to_be_visible()
    expect(refusal).to_have_text(re.compile(r"biométrique"))
    expect(phone.page.get_by_role("heading", name="Vérification")).to_be_visible()
    phone.screenshot("08-refus-connexion")
