"""The page as people with disabilities use it: one test per defect of issue 16.

Every screen these journeys reach also goes through ``assert_accessible`` (axe-core on
WCAG 2.1 A/AA, live regions, focus rings, reflow at 200 % and 320 px, screenshots in
tests/browser/artifacts/). tests/browser/README.md maps each defect to its test.
"""

from __future__ import annotations

import math
import re
import time

import requests
from playwright.sync_api import expect

from tests.browser.conftest import VirtualPhone
from tests.browser.test_web_journey import EMAIL, NIR, PASSWORD, sign_in_with_password
from tests.timeouts import MAIL_SECONDS

SPACED_NIR = "2 99 12 99 000 077"  # NIR, as printed on the Carte Vitale


def login_form(page):
    return page.locator("#screen-login")


def send_code(page) -> None:
    page.get_by_role("button", name="Envoyer le code").click()
    expect(page.locator("#code-sent")).to_contain_text("Un code a été envoyé à")


def wait_for_mails(smtp, address: str, count: int) -> None:
    """Wait until ``count`` messages reached ``address`` (the worker sends after commit)."""
    deadline = time.monotonic() + MAIL_SECONDS
    while len(smtp.to(address)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} messages to {address}"
        time.sleep(0.05)


def test_1_live_regions_are_there_and_empty_at_load_and_never_change_role(
    web_server, phone_without_autofill, smtp
):
    web_server.create_account(NIR, EMAIL, PASSWORD)
    page = phone_without_autofill.page
    page.goto(web_server.url + "/")
    status, alert = page.locator("#message"), page.locator("#alert")
    for region in (status, alert):
        expect(region).to_be_attached()
        expect(region).to_have_text("")
        assert region.evaluate("(el) => !el.hidden && getComputedStyle(el).display !== 'none'")
    assert status.get_attribute("role") == "status"
    assert status.get_attribute("aria-live") == "polite"
    assert alert.get_attribute("role") == "alert"
    assert alert.get_attribute("aria-live") == "assertive"
    # Record any change of role or aria-live from now on.
    page.evaluate(
        """() => {
      window.__roleChanges = [];
      const watched = { attributes: true, attributeFilter: ["role", "aria-live", "hidden"] };
      for (const id of ["message", "alert"]) {
        new MutationObserver((changes) => {
          window.__roleChanges.push(...changes.map((c) => `${id}.${c.attributeName}`));
        }).observe(document.getElementById(id), watched);
      }
    }"""
    )
    form = login_form(page)
    form.get_by_label("Numéro de sécurité sociale").fill(NIR)
    form.get_by_label("Mot de passe", exact=True).fill("pas le bon mot de passe")
    form.get_by_role("button", name="Se connecter", exact=True).click()
    expect(alert).to_contain_text("incorrect")
    expect(status).to_have_text("")
    form.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    form.get_by_role("button", name="Se connecter", exact=True).click()
    send_code(page)
    expect(status).to_contain_text("Un code a été envoyé à")  # « code envoyé », announced
    expect(alert).to_have_text("")
    assert page.evaluate("window.__roleChanges") == []


def test_2_errors_are_tied_to_their_field_which_keeps_the_focus(
    web_server, phone_without_autofill, smtp, assert_accessible
):
    web_server.create_account(NIR, EMAIL, PASSWORD)
    page = phone_without_autofill.page
    page.goto(web_server.url + "/")
    form = login_form(page)
    nir = form.get_by_label("Numéro de sécurité sociale")
    nir.fill("12345")
    form.get_by_role("button", name="Se connecter", exact=True).click()
    expect(nir).to_have_attribute("aria-invalid", "true")
    expect(nir).to_be_focused()
    described = nir.get_attribute("aria-describedby").split()
    assert "nir-error" in described and "nir-hint" in described
    expect(page.locator("#nir-error")).to_contain_text("13 chiffres")
    expect(page.get_by_role("alert")).to_contain_text("13 chiffres")
    assert_accessible(page, "a11y-01-erreur-numero")

    nir.fill(NIR)
    password = form.get_by_label("Mot de passe", exact=True)
    password.fill("pas le bon mot de passe")
    form.get_by_role("button", name="Se connecter", exact=True).click()
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_be_focused()
    expect(nir).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#password-error")).to_contain_text("incorrect")
    assert "password-error" in password.get_attribute("aria-describedby")

    password.fill(PASSWORD)
    form.get_by_role("button", name="Se connecter", exact=True).click()
    send_code(page)
    code = page.get_by_label("Code à 6 chiffres reçu par courriel")
    code.fill("000000" if smtp.last_code(EMAIL) != "000000" else "111111")
    page.get_by_role("button", name="Valider").click()
    expect(code).to_have_attribute("aria-invalid", "true")
    expect(code).to_be_focused()
    expect(page.locator("#code-error")).to_contain_text("Il vous reste 4 essais")
    assert_accessible(page, "a11y-02-erreur-code")


def test_3_a_nir_typed_with_spaces_signs_in(web_server, phone_without_autofill, smtp):
    web_server.create_account(NIR, EMAIL, PASSWORD)
    page = phone_without_autofill.page
    page.goto(web_server.url + "/")
    form = login_form(page)
    nir = form.get_by_label("Numéro de sécurité sociale")
    nir.fill(SPACED_NIR)
    expect(nir).to_have_value(SPACED_NIR)  # nothing cut by a maxlength
    form.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    with page.expect_request(lambda r: r.url.endswith("/auth/login")) as sent:
        form.get_by_role("button", name="Se connecter", exact=True).click()
    assert sent.value.post_data_json["nir"] == NIR
    expect(page.get_by_role("heading", name="Vérification")).to_be_visible()


def test_4_focus_rings_reach_3_to_1_on_every_background(web_server, phone_without_autofill):
    page = phone_without_autofill.page
    page.goto(web_server.url + "/")
    from tests.browser import a11y

    rings = a11y.focus_rings(page)
    assert len(rings) >= 5  # the NIR, the password, its toggle, « Se connecter », the links
    for ring in rings:
        assert ring["outline"] != "none" and ring["width"] >= 2, ring
        assert ring["contrast"] >= 3, ring
    # The stylesheet no longer uses the 1.5:1 yellow.
    css = requests.get(web_server.url + "/static/app.css", timeout=30).text
    assert "#ffbf47" not in css.lower()


def test_5_text_follows_the_persons_own_font_size(web_server, phone_without_autofill):
    page = phone_without_autofill.page
    page.goto(web_server.url + "/")
    root = "() => parseFloat(getComputedStyle(document.documentElement).fontSize)"
    label = "() => parseFloat(getComputedStyle(document.querySelector('label')).fontSize)"
    default_root, default_label = page.evaluate(root), page.evaluate(label)
    # The person asks their browser for larger text (Chromium's « Taille de police »).
    phone_without_autofill.cdp.send("Page.setFontSizes", {"fontSizes": {"standard": 24}})
    page.reload()
    assert page.evaluate(root) == default_root * 24 / 16
    assert page.evaluate(label) > default_label
    css = requests.get(web_server.url + "/static/app.css", timeout=30).text
    assert not re.search(r"font-size:\s*[\d.]+px", css)


def test_6_code_validity_and_sign_in_expiry_come_from_the_api_with_a_warning(
    start_live_server, smtp, browser, assert_accessible
):
    server = start_live_server(
        host="localhost",
        WEBAUTHN_RP_ID="localhost",
        WEBAUTHN_ORIGINS="http://localhost:{port}",
        MAIL_BACKEND="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp.port),
        OTP_TTL_SECONDS="300",
        LOGIN_TTL_SECONDS="600",
        OTP_RESEND_SECONDS="0",  # « Prolonger » and « Renvoyer » at once
    )
    server.create_account(NIR, EMAIL, PASSWORD)
    phone = VirtualPhone(browser, passkey_autofill=False)
    try:
        page = phone.page
        page.clock.install()
        sign_in_with_password(phone, server.url)
        send_code(page)
        expect(page.locator("#code-sent")).to_contain_text("Il est valable 5 minutes, jusqu'à")
        expect(page.locator("#expiry-warning")).to_be_hidden()

        # The sign-in lives 10 minutes from the password step (the code's 5 fit in them):
        # two minutes before the end, a warning and a way to extend.
        page.clock.fast_forward("08:01")
        warning = page.locator("#expiry-warning")
        expect(warning).to_be_visible()
        expect(page.locator("#expiry-text")).to_contain_text("Elle sera annulée dans 2 minutes")
        expect(page.get_by_role("alert")).to_contain_text("Vous pouvez la prolonger")
        assert_accessible(page, "a11y-03-avertissement-delai", tab_through=False)
        mails = len(smtp.to(EMAIL))
        warning.get_by_role("button", name="Prolonger").click()
        expect(warning).to_be_hidden()
        expect(page.locator("#code-sent")).to_contain_text("ne fonctionne plus")
        wait_for_mails(smtp, EMAIL, mails + 1)

        # Without an answer, the sign-in ends and the page says so, back at the start.
        page.clock.fast_forward("05:01")
        expect(page.get_by_role("heading", name="Connexion", exact=True)).to_be_visible()
        expect(page.get_by_role("alert")).to_contain_text(
            "Le délai pour finir la connexion est dépassé"
        )
        assert page.evaluate("sessionStorage.getItem('moncompte.sign_in')") is None
    finally:
        phone.close()


def test_7_a_reload_resumes_the_sign_in_without_keeping_any_session_token(
    web_server, phone_without_autofill, smtp
):
    web_server.create_account(NIR, EMAIL, PASSWORD)
    page = phone_without_autofill.page
    sign_in_with_password(phone_without_autofill, web_server.url)
    send_code(page)
    code = smtp.last_code(EMAIL)
    page.reload()
    expect(page.get_by_role("heading", name="Vérification")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Votre connexion en cours a été reprise")
    field = page.get_by_label("Code à 6 chiffres reçu par courriel")
    expect(field).to_be_visible()
    expect(page.locator("#code-sent")).to_contain_text("Un code a été envoyé à")
    field.fill(code)
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("heading", name="Gérer mon compte")).to_be_visible()
    stored = page.evaluate("JSON.stringify(Object.assign({}, sessionStorage))")
    assert "moncompte.sign_in" not in stored
    assert "access" not in stored and "refresh" not in stored
    assert page.evaluate("Object.keys(localStorage)") == ["moncompte.device_token"]


def test_8_after_a_resend_the_page_says_the_earlier_code_no_longer_works(
    start_live_server, smtp, browser
):
    server = start_live_server(
        host="localhost",
        WEBAUTHN_RP_ID="localhost",
        WEBAUTHN_ORIGINS="http://localhost:{port}",
        MAIL_BACKEND="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp.port),
        OTP_RESEND_SECONDS="0",  # « Prolonger » and « Renvoyer » at once
    )
    server.create_account(NIR, EMAIL, PASSWORD)
    phone = VirtualPhone(browser, passkey_autofill=False)
    try:
        page = phone.page
        sign_in_with_password(phone, server.url)
        send_code(page)
        expect(page.locator("#code-sent")).not_to_contain_text("ne fonctionne plus")
        wait_for_mails(smtp, EMAIL, 1)
        resend = page.get_by_role("button", name="Renvoyer le code")
        expect(resend).to_be_enabled()
        resend.click()
        expect(page.locator("#code-sent")).to_contain_text(
            "Le code reçu avant ne fonctionne plus : utilisez le dernier."
        )
        expect(page.get_by_role("status")).to_contain_text("ne fonctionne plus")
    finally:
        phone.close()


def test_9_the_title_names_each_step_and_each_error(web_server, phone_without_autofill, smtp):
    web_server.create_account(NIR, EMAIL, PASSWORD)
    page = phone_without_autofill.page
    page.goto(web_server.url + "/")
    expect(page).to_have_title("Connexion - Mon Compte - Caf")
    form = login_form(page)
    form.get_by_role("button", name="Se connecter", exact=True).click()
    expect(page).to_have_title(re.compile(r"^Erreur : Saisissez votre numéro.* - Connexion - "))
    sign_in_with_password(phone_without_autofill, web_server.url)
    expect(page).to_have_title("Vérification - Mon Compte - Caf")
    send_code(page)
    page.get_by_label("Code à 6 chiffres reçu par courriel").fill(smtp.last_code(EMAIL))
    page.get_by_role("button", name="Valider").click()
    expect(page).to_have_title("Gérer mon compte - Mon Compte - Caf")
    page.get_by_role("button", name="Mes coordonnées").click()
    expect(page).to_have_title("Mes coordonnées - Mon Compte - Caf")


def test_10_show_password_forgotten_password_and_help(web_server, phone_without_autofill):
    page = phone_without_autofill.page
    page.goto(web_server.url + "/")
    form = login_form(page)
    password = form.get_by_label("Mot de passe", exact=True)
    password.fill("secret visible")
    toggle = form.get_by_role("button", name="Afficher le mot de passe")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(password).to_have_attribute("type", "text")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    toggle.click()
    expect(password).to_have_attribute("type", "password")
    help_link = page.get_by_role("link", name="France Services")
    expect(help_link).to_have_attribute("href", "https://www.france-services.gouv.fr/")
    page.get_by_role("button", name="Mot de passe oublié ?").click()
    expect(page.get_by_role("heading", name="Mot de passe oublié")).to_be_visible()
    expect(page.get_by_role("button", name="J'ai un code remis au guichet")).to_be_visible()


def test_11_a_browser_without_webauthn_is_told_why_biometrics_are_missing(
    web_server, browser, smtp
):
    web_server.create_account(NIR, EMAIL, PASSWORD)
    phone = VirtualPhone(browser, passkey_autofill=False)
    try:
        phone.context.add_init_script("delete window.PublicKeyCredential;")
        page = phone.page
        sign_in_with_password(phone, web_server.url)
        send_code(page)
        page.get_by_label("Code à 6 chiffres reçu par courriel").fill(smtp.last_code(EMAIL))
        page.get_by_role("button", name="Valider").click()
        expect(page.get_by_role("heading", name="Gérer mon compte")).to_be_visible()
        expect(page.get_by_role("button", name="Activer la connexion biométrique")).to_be_hidden()
        expect(page.locator("#biometrics-unavailable")).to_be_visible()
        expect(page.locator("#biometrics-unavailable")).to_contain_text(
            "Ce navigateur ne permet pas la connexion biométrique."
        )
    finally:
        phone.close()


def test_12_the_lock_message_gives_the_real_delay(web_server, phone_without_autofill):
    web_server.create_account(NIR, EMAIL, PASSWORD)
    for _ in range(5):
        requests.post(
            web_server.url + "/api/v1/auth/login",
            json={"nir": NIR, "password": "mauvais mot de passe"},
            timeout=30,
        )
    page = phone_without_autofill.page
    page.goto(web_server.url + "/")
    form = login_form(page)
    form.get_by_label("Numéro de sécurité sociale").fill(NIR)
    form.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    with page.expect_response(lambda r: r.url.endswith("/auth/login")) as answered:
        form.get_by_role("button", name="Se connecter", exact=True).click()
    assert answered.value.status == 429
    wait = int(answered.value.headers["retry-after"])
    expected = f"{wait} seconde" if wait < 60 else f"{math.ceil(wait / 60)} minute"
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(f"Réessayez dans {expected}")
    expect(alert).not_to_contain_text("quelques minutes")


def test_keyboard_only_sign_in_code_and_menu(
    web_server, phone_without_autofill, smtp, assert_accessible
):
    """Tab and Enter only, no click: sign-in, code, « Gérer mon compte » and its menu."""
    web_server.create_account(NIR, EMAIL, PASSWORD)
    page = phone_without_autofill.page
    page.goto(web_server.url + "/")
    expect(page.get_by_role("heading", name="Connexion", exact=True)).to_be_visible()
    assert_accessible(page, "kb-01-connexion")
    keys = page.keyboard

    def tab_to(name: str) -> None:
        for _ in range(60):
            keys.press("Tab")
            focused = page.evaluate(
                "() => { const el = document.activeElement;"
                " return (el.labels && el.labels[0] ? el.labels[0].textContent"
                " : el.getAttribute('aria-label') || el.textContent || '').trim(); }"
            )
            if focused.startswith(name):
                return
        raise AssertionError(f"« {name} » cannot be reached with Tab")

    tab_to("Numéro de sécurité sociale")
    keys.type(SPACED_NIR)
    tab_to("Mot de passe")
    keys.type(PASSWORD)
    keys.press("Enter")
    expect(page.get_by_role("heading", name="Vérification")).to_be_visible()
    assert_accessible(page, "kb-02-verification")
    tab_to("Envoyer le code")
    keys.press("Enter")
    code = page.get_by_label("Code à 6 chiffres reçu par courriel")
    expect(code).to_be_focused()
    assert_accessible(page, "kb-03-code-envoye", tab_through=False)
    keys.type(smtp.last_code(EMAIL))
    keys.press("Enter")
    expect(page.get_by_role("heading", name="Gérer mon compte")).to_be_visible()
    assert_accessible(page, "kb-04-gerer-mon-compte")
    tab_to("Mes coordonnées")
    keys.press("Enter")
    expect(page.get_by_role("heading", name="Mes coordonnées")).to_be_visible()
    expect(page.locator("#contacts")).to_contain_text(EMAIL)
    assert_accessible(page, "kb-05-mes-coordonnees")
    tab_to("Modifier : Adresse électronique")
    keys.press("Enter")
    expect(page.get_by_label("Nouvelle adresse électronique")).to_be_focused()
    assert_accessible(page, "kb-06-modifier-adresse", tab_through=False)
    tab_to("Annuler")
    keys.press("Enter")
    tab_to("Retour à Gérer mon compte")
    keys.press("Enter")
    expect(page.get_by_role("heading", name="Gérer mon compte")).to_be_visible()
    tab_to("Se déconnecter")
    keys.press("Enter")
    expect(page.get_by_role("status")).to_have_text("Vous êtes déconnecté.")
    expect(page.get_by_role("heading", name="Connexion", exact=True)).to_be_visible()


def test_recovery_screens_and_the_statement_are_accessible(
    web_server, phone_without_autofill, assert_accessible
):
    page = phone_without_autofill.page
    page.goto(web_server.url + "/")
    page.get_by_role("button", name="Mot de passe oublié ?").click()
    expect(page).to_have_title("Mot de passe oublié - Mon Compte - Caf")
    assert_accessible(page, "rec-01-mot-de-passe-oublie")
    page.get_by_role("button", name="J'ai un code remis au guichet").click()
    expect(page.get_by_role("heading", name="Code remis au guichet")).to_be_visible()
    assert_accessible(page, "rec-02-code-guichet")

    page.get_by_role("link", name="Accessibilité : non conforme").click()
    expect(page.get_by_role("heading", name="Déclaration d'accessibilité")).to_be_visible()
    for section in ("État de conformité", "Contenus non accessibles", "Voies de recours"):
        expect(page.get_by_role("heading", name=section)).to_be_visible()
    expect(page.get_by_role("link", name="Défenseur des droits")).to_be_visible()
    assert_accessible(page, "declaration-accessibilite")
    page.goto(web_server.url + "/aidant")
    expect(page.get_by_role("link", name="Accessibilité : non conforme")).to_have_attribute(
        "href", "/accessibilite"
    )
    assert_accessible(page, "aidant-01-connexion")
