"""« S'identifier avec FranceConnect » in Chromium, against the local FranceConnect+ stand-in.

The page sends the person to the provider with a PKCE challenge, comes back with a
hand-off, asks them to sign in once the usual way to link the identity, then signs them in
with FranceConnect alone, and signs them out at the provider too.
"""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from tests.browser.test_web_journey import sign_in_with_code, sign_in_with_password
from tests.timeouts import MAIL_SECONDS

NIR = "2991299000078"
PASSWORD = "Une phrase de passe solide"
EMAIL = "franceconnect@exemple.fr"
FC_BUTTON = "S'identifier avec FranceConnect"


def sign_in_again_with_code(phone, url: str, smtp) -> None:
    """The usual sign-in once more: wait for the new code, not the last one."""
    codes_before = len([m for m in smtp.to(EMAIL) if "code" in m["Subject"]])
    sign_in_with_password(phone, url, NIR)
    page = phone.page
    page.get_by_role("button", name="Envoyer le code").click()
    deadline = time.monotonic() + MAIL_SECONDS
    while len([m for m in smtp.to(EMAIL) if "code" in m["Subject"]]) == codes_before:
        assert time.monotonic() < deadline, "no new code was mailed"
        time.sleep(0.05)
    page.get_by_label("Code à 6 chiffres reçu par courriel").fill(smtp.last_code(EMAIL))
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("heading", name="Gérer mon compte")).to_be_visible()


def at_the_provider(page, identity: str = "angela", acr: str = "eidas2") -> None:
    """What the person does at their identity provider: the stand-in's login form."""
    expect(page.get_by_label("Identifiant")).to_be_visible()
    page.get_by_label("Identifiant").fill(identity)
    page.get_by_label("Niveau").select_option(acr)
    page.get_by_role("button", name="Se connecter").click()


def test_link_then_sign_in_with_franceconnect_and_sign_out_there(
    fc_provider, start_live_server, phone, smtp
):
    server = fc_provider.serve(
        start_live_server,
        host="localhost",
        MAIL_BACKEND="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp.port),
        WEBAUTHN_ORIGINS="http://localhost:{port}",
        OTP_RESEND_SECONDS="1",
    )
    server.create_account(NIR, EMAIL, PASSWORD)
    page = phone.page
    page.goto(server.url + "/")
    button = page.get_by_role("button", name=FC_BUTTON)
    expect(button).to_be_visible()
    expect(page.get_by_role("link", name="Qu'est-ce que FranceConnect ?")).to_be_visible()
    phone.screenshot("fc-01-connexion")

    # First time: the identity is not linked yet.
    button.click()
    at_the_provider(page)
    expect(page.locator("#message")).to_contain_text("pas encore associée à votre compte")
    assert "handoff" not in page.url  # the hand-off left the address bar at once
    phone.screenshot("fc-02-association-demandee")

    # The usual sign-in, then the confirmation.
    sign_in_with_code(phone, server.url, smtp, NIR, EMAIL)
    expect(page.locator("#message")).to_contain_text("Confirmez l'association")
    page.get_by_role("button", name="Confirmer l'association avec FranceConnect").click()
    expect(page.locator("#message")).to_have_text(
        "FranceConnect est associé à votre compte (Angela Claire Louise DUBOIS)."
    )
    expect(page.locator("#fc-status")).to_contain_text("associé à FranceConnect depuis le")
    phone.screenshot("fc-03-associe")
    assert smtp.wait_for(EMAIL, "FranceConnect a été associé")
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.locator("#message")).to_have_text("Vous êtes déconnecté.")

    # From now on, FranceConnect alone signs in.
    page.get_by_role("button", name=FC_BUTTON).click()
    at_the_provider(page)
    expect(page.locator("#message")).to_have_text("Vous êtes connecté avec FranceConnect.")
    expect(page.get_by_role("heading", name="Gérer mon compte")).to_be_visible()
    expect(page.locator("#sessions")).to_contain_text("Cette connexion — FranceConnect")
    phone.screenshot("fc-04-connecte-avec-franceconnect")

    # Signing out goes through the provider's sign-out and back to the page.
    page.get_by_role("button", name="Se déconnecter").click()
    page.get_by_role("button", name=re.compile("Yes, sign me out")).click()
    expect(page.locator("#message")).to_have_text("Vous êtes déconnecté.")
    expect(page.get_by_role("heading", name="Connexion")).to_be_visible()
    assert page.url == server.url + "/"

    # « Retirer FranceConnect » from a usual session.
    sign_in_again_with_code(phone, server.url, smtp)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Retirer FranceConnect").click()
    expect(page.locator("#message")).to_have_text("FranceConnect a été retiré de votre compte.")
    expect(page.get_by_role("button", name="Associer FranceConnect")).to_be_visible()
    assert smtp.wait_for(EMAIL, "FranceConnect a été retiré")


def test_a_failed_franceconnect_sign_in_is_explained_kindly(fc_provider, start_live_server, phone):
    server = fc_provider.serve(
        start_live_server, host="localhost", WEBAUTHN_ORIGINS="http://localhost:{port}"
    )
    page = phone.page
    page.goto(server.url + "/")
    page.get_by_role("button", name=FC_BUTTON).click()
    expect(page.get_by_label("Identifiant")).to_be_visible()
    page.get_by_role("button", name="Annuler").click()
    message = page.get_by_role("alert")  # an error: the assertive region
    expect(message).to_contain_text("La connexion avec FranceConnect n'a pas abouti.")
    expect(message).to_contain_text("numéro de sécurité sociale et votre mot de passe")
    assert "error" not in page.url
    phone.screenshot("fc-05-echec")


def test_without_franceconnect_the_page_has_no_button(start_live_server, phone):
    server = start_live_server(host="localhost", WEBAUTHN_ORIGINS="http://localhost:{port}")
    phone.page.goto(server.url + "/")
    expect(phone.page.get_by_role("heading", name="Connexion")).to_be_visible()
    expect(phone.page.get_by_role("button", name=FC_BUTTON)).to_have_count(0)
