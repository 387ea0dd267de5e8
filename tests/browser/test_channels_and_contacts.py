"""The channel choice at « Envoyer le code » and the « Mes coordonnées » screen, in Chromium."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.test_web_journey import sign_in_with_password

NIR = "2991299000077"
PASSWORD = "Une phrase de passe solide"
EMAIL = "navigateur@exemple.fr"
PHONE = "+33612345678"


def test_choose_sms_then_manage_contacts(web_server, phone, smtp):
    web_server.create_account(NIR, EMAIL, PASSWORD, phone=PHONE)
    page = phone.page
    sign_in_with_password(phone, web_server.url)

    by_email = page.get_by_label("Par courriel (n•••@e•••.fr)")
    by_sms = page.get_by_label("Par SMS (06 •• •• •• 78)")
    expect(by_email).to_be_checked()
    expect(by_sms).not_to_be_checked()
    phone.screenshot("09-choix-du-canal")
    by_sms.check()
    page.get_by_role("button", name="Envoyer le code").click()
    expect(page.locator("#code-sent")).to_contain_text("envoyé par SMS au 06 •• •• •• 78")
    page.get_by_label("Code à 6 chiffres reçu par SMS").fill(web_server.last_sms_code(PHONE))
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("heading", name="Gérer mon compte")).to_be_visible()
    expect(page.locator("#sessions")).to_contain_text("code par SMS")
    assert smtp.to(EMAIL) == []  # the code went by SMS only

    # « Mes coordonnées »: both contacts, in full.
    page.get_by_role("button", name="Mes coordonnées").click()
    expect(page.get_by_role("heading", name="Mes coordonnées")).to_be_visible()
    contacts = page.locator("#contacts")
    expect(contacts).to_contain_text(EMAIL)
    expect(contacts).to_contain_text("06 12 34 56 78")

    # Add a trusted person: a code to them, typed by the holder.
    page.get_by_role("button", name="Ajouter : Personne de confiance").click()
    page.get_by_label("Adresse électronique de votre personne de confiance").fill(
        "aidant@exemple.fr"
    )
    page.get_by_label("Nom de votre personne de confiance").fill("Mon aidant")
    page.get_by_role("button", name="Envoyer le code").click()
    expect(page.locator("#contact-code-sent")).to_contain_text("Rien ne change")
    expect(contacts).not_to_contain_text("Mon aidant")
    phone.screenshot("10-personne-de-confiance-code")
    page.get_by_label("Code à 6 chiffres reçu par votre personne de confiance").fill(
        smtp.last_code("aidant@exemple.fr")
    )
    page.get_by_role("button", name="Valider").click()
    expect(page.locator("#message")).to_contain_text("Personne de confiance : enregistré")
    expect(contacts).to_contain_text("Mon aidant — aidant@exemple.fr")

    # Change the address: the old one is told.
    page.get_by_role("button", name="Modifier : Adresse électronique").click()
    page.get_by_label("Nouvelle adresse électronique").fill("nouvelle@exemple.fr")
    page.get_by_role("button", name="Envoyer le code").click()
    expect(page.locator("#contact-code-sent")).to_contain_text("n•••@e•••.fr")
    page.get_by_label("Code à 6 chiffres reçu à la nouvelle adresse").fill(
        smtp.last_code("nouvelle@exemple.fr")
    )
    page.get_by_role("button", name="Valider").click()
    expect(contacts).to_contain_text("nouvelle@exemple.fr")
    smtp.wait_for(EMAIL, "Adresse électronique modifiée")

    # A wrong-looking number is refused in plain French.
    page.get_by_role("button", name="Modifier : Numéro de mobile").click()
    page.get_by_role("textbox", name="Numéro de mobile").fill("01 42 00 00 00")
    page.get_by_role("button", name="Envoyer le code").click()
    expect(page.get_by_role("alert")).to_contain_text("mobile français")
    page.get_by_role("button", name="Annuler").click()

    # Remove the mobile.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Retirer : Numéro de mobile").click()
    expect(page.locator("#message")).to_contain_text("Numéro de mobile : retiré")
    expect(contacts).not_to_contain_text("06 12 34 56 78")
    phone.screenshot("11-mes-coordonnees")

    page.get_by_role("button", name="Retour à Gérer mon compte").click()
    expect(page.get_by_role("heading", name="Gérer mon compte")).to_be_visible()
    expect(page.locator("#activity")).to_contain_text("Retrait de votre numéro de mobile")


def test_a_phone_only_holder_gets_the_sms_choice_alone(web_server, phone):
    web_server.create_account("1990575000078", None, PASSWORD, phone="+33756123456")
    page = phone.page
    sign_in_with_password(phone, web_server.url, "1990575000078")
    only = page.get_by_label("Par SMS (07 •• •• •• 56)")
    expect(only).to_be_checked()
    expect(page.locator("input[name='channel']")).to_have_count(1)
    page.get_by_role("button", name="Envoyer le code").click()
    page.get_by_label("Code à 6 chiffres reçu par SMS").fill(
        web_server.last_sms_code("+33756123456")
    )
    page.get_by_role("button", name="Valider").click()
    expect(page.locator("#account-summary")).to_contain_text("courriel : aucun")
