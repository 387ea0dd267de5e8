"""« Mot de passe oublié », the counter code, « Déconnecter tous mes appareils » and « Ce
n'était pas moi », through the page's own controls, each screen checked for accessibility."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import VirtualPhone
from tests.browser.test_accessibility import wait_for_mails
from tests.browser.test_web_journey import EMAIL, NIR, PASSWORD, sign_in_with_password

PHONE = "+33612345678"
NEW_PASSWORD = "Un tout nouveau mot de passe"


def sign_in_with(page, url: str, password: str) -> None:
    page.goto(url + "/")
    login = page.locator("#screen-login")
    login.get_by_label("Numéro de sécurité sociale").fill(NIR)
    login.get_by_label("Mot de passe", exact=True).fill(password)
    login.get_by_role("button", name="Se connecter", exact=True).click()


def sign_in_with_new_code(phone, url: str, smtp) -> None:
    """Sign in by emailed code, waiting for this sign-in's own mail (not an earlier one's)."""
    sign_in_with_password(phone, url)
    mails = len(smtp.to(EMAIL))
    phone.page.get_by_role("button", name="Envoyer le code").click()
    wait_for_mails(smtp, EMAIL, mails + 1)
    phone.page.get_by_label("Code à 6 chiffres reçu par courriel").fill(smtp.last_code(EMAIL))
    phone.page.get_by_role("button", name="Valider").click()
    expect(phone.page.get_by_role("heading", name="Gérer mon compte")).to_be_visible()


def test_forgotten_password_by_sms_then_sign_in(web_server, phone_without_autofill, smtp):
    web_server.create_account(NIR, EMAIL, PASSWORD, phone=PHONE)
    phone = phone_without_autofill
    page = phone.page
    page.goto(web_server.url + "/")
    page.locator("#screen-login").get_by_label("Numéro de sécurité sociale").fill(
        "2 99 12 99 000 077"
    )
    page.get_by_role("button", name="Mot de passe oublié ?").click()
    forgot = page.locator("#screen-forgot")
    expect(forgot.get_by_label("Numéro de sécurité sociale")).to_have_value("2 99 12 99 000 077")
    forgot.get_by_label("Par SMS").check()
    phone.screenshot("rec-10-mot-de-passe-oublie")
    forgot.get_by_role("button", name="Recevoir un code").click()

    reset = page.locator("#screen-reset")
    expect(page.get_by_role("heading", name="Nouveau mot de passe")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("un code vient d'y être envoyé par SMS")
    expect(page).to_have_title("Nouveau mot de passe - Mon Compte - Caf")
    phone.screenshot("rec-11-code-et-nouveau-mot-de-passe")

    # Too short: said at the field, which keeps the focus; nothing changes.
    reset.get_by_label("Code à 6 chiffres").fill(web_server.last_sms_code(PHONE))
    password = reset.get_by_label("Nouveau mot de passe")
    password.fill("court")
    reset.get_by_role("button", name="Enregistrer le nouveau mot de passe").click()
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_be_focused()
    expect(page.locator("#reset-password-error")).to_contain_text("au moins")
    phone.screenshot("rec-12-mot-de-passe-trop-court")

    password.fill(NEW_PASSWORD)
    reset.get_by_role("button", name="Afficher le mot de passe").click()
    expect(password).to_have_attribute("type", "text")
    reset.get_by_role("button", name="Enregistrer le nouveau mot de passe").click()
    expect(page.get_by_role("heading", name="Connexion", exact=True)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Votre nouveau mot de passe est enregistré")
    phone.screenshot("rec-13-mot-de-passe-change")

    # The old password no longer works; the new one does.
    sign_in_with(page, web_server.url, PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("incorrect")
    sign_in_with(page, web_server.url, NEW_PASSWORD)
    expect(page.get_by_role("heading", name="Vérification")).to_be_visible()


def test_counter_code_with_a_new_address(web_server, phone_without_autofill, smtp):
    web_server.create_account(NIR, EMAIL, PASSWORD)
    issued = web_server.flask(
        "accounts",
        "recovery-code",
        "--nir",
        NIR,
        "--agent",
        "AG123",
        "--reason",
        "téléphone et boîte mail perdus",
    )
    assert issued.returncode == 0, issued.stderr
    code = issued.stdout.strip().splitlines()[0]
    phone = phone_without_autofill
    page = phone.page
    page.goto(web_server.url + "/")
    page.get_by_role("button", name="Mot de passe oublié ?").click()
    page.get_by_role("button", name="J'ai un code remis au guichet").click()
    counter = page.locator("#screen-counter")
    counter.get_by_label("Numéro de sécurité sociale").fill(NIR)
    counter.get_by_label("Code remis au guichet").fill("ZZZZ-ZZZZ-ZZZZ")
    counter.get_by_label("Nouveau mot de passe").fill(NEW_PASSWORD)
    counter.get_by_role("button", name="Enregistrer").click()
    field = counter.get_by_label("Code remis au guichet")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    phone.screenshot("rec-20-code-guichet-refuse")

    field.fill(code.lower())
    counter.get_by_label("Votre courriel, s'il a changé (facultatif)").fill("nouvelle@exemple.fr")
    counter.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_role("status")).to_contain_text("Votre nouveau mot de passe est enregistré")
    phone.screenshot("rec-21-code-guichet-accepte")

    sign_in_with(page, web_server.url, NEW_PASSWORD)
    page.get_by_role("button", name="Envoyer le code").click()
    page.get_by_label("Code à 6 chiffres reçu par courriel").fill(
        smtp.last_code("nouvelle@exemple.fr")
    )
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("heading", name="Gérer mon compte")).to_be_visible()


def test_disconnect_all_devices_and_not_me(web_server, browser, axe_source, smtp):
    web_server.create_account(NIR, EMAIL, PASSWORD)
    laptop = VirtualPhone(browser, passkey_autofill=False, axe_source=axe_source)
    other = VirtualPhone(browser, passkey_autofill=False, axe_source=axe_source)
    try:
        sign_in_with_new_code(other, web_server.url, smtp)
        sign_in_with_new_code(laptop, web_server.url, smtp)
        page = laptop.page
        expect(page.locator("#sessions")).to_contain_text("Autre connexion")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Déconnecter tous mes appareils").click()
        expect(page.get_by_role("status")).to_contain_text("Tous vos autres appareils")
        expect(page.locator("#sessions")).not_to_contain_text("Autre connexion")
        laptop.screenshot("rec-30-appareils-deconnectes")

        # The other browser is signed out at its next step.
        other.page.get_by_role("button", name="Mes coordonnées").click()
        expect(other.page.get_by_role("alert")).to_be_visible()

        # « Ce n'était pas moi » on an activity item: every other session ends again.
        sign_in_with_new_code(other, web_server.url, smtp)
        sign_in_with_new_code(laptop, web_server.url, smtp)
        not_me = page.locator("#activity").get_by_role("button", name="Ce n'était pas moi").first
        not_me.click()
        expect(page.get_by_role("status")).to_contain_text("Toutes vos autres connexions sont")
        expect(page.locator("#sessions")).not_to_contain_text("Autre connexion")
        laptop.screenshot("rec-31-ce-n-etait-pas-moi")
    finally:
        laptop.close()
        other.close()
