"""« Mes aidants » and the mediator's page, in Chromium: grant, act, see, revoke, refused."""

from __future__ import annotations

import json
import re

import pyotp
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import VirtualPhone
from tests.browser.test_web_journey import sign_in_with_code

NIR = "2991299000077"
PASSWORD = "Une phrase de passe solide"
EMAIL = "navigateur@exemple.fr"
MEDIATOR_EMAIL = "camille@france-services.example"
MEDIATOR_PASSWORD = "Accompagner sans mot de passe 7"


@pytest.fixture
def counter(browser, axe_source):
    """The France Services counter's computer (no authenticator needed there)."""
    device = VirtualPhone(browser, axe_source=axe_source)
    yield device
    device.close()


def test_a_holder_grants_a_mandate_the_mediator_acts_then_is_refused(
    web_server, phone, counter, smtp
):
    web_server.create_account(NIR, EMAIL, PASSWORD)
    created = web_server.flask(
        "mediators",
        "create",
        "--email",
        MEDIATOR_EMAIL,
        "--name",
        "Camille Martin",
        "--organisation",
        "France Services de Montreuil",
        "--json",
    )
    assert created.returncode == 0, created.stderr
    enrolment = json.loads(created.stdout)
    code = enrolment["mediator_code"]

    # The holder, on their phone, gives the mediator a mandate from « Gérer mon compte ».
    sign_in_with_code(phone, web_server.url, smtp)
    page = phone.page
    expect(page.get_by_role("heading", name="Mes aidants")).to_be_visible()
    expect(page.locator("#mandates")).to_contain_text("Vous n'avez donné de mandat à aucun aidant")
    page.get_by_label("Code de l'aidant").fill(f"{code[:4].lower()} {code[4:]}")
    page.get_by_label("Faire mes déclarations").check()
    page.get_by_label("Pendant").select_option("31")
    page.get_by_role("button", name="Donner le mandat").click()
    expect(page.locator("#message")).to_contain_text(
        "Vous avez donné un mandat à Camille Martin (France Services de Montreuil)"
    )
    expect(page.locator("#mandates")).to_contain_text(
        "Peut consulter votre compte et faire vos déclarations."
    )
    phone.screenshot("20-mes-aidants")
    assert smtp.wait_for(EMAIL, "mandat")["Subject"] == "Vous avez donné un mandat à un aidant"

    # The mediator, at the counter: own password, own code, then a new password.
    desk = counter.page
    desk.goto(web_server.url + "/aidant")
    counter.screenshot("20b-aidant-connexion")
    desk.get_by_label("Adresse électronique").fill(MEDIATOR_EMAIL)
    desk.get_by_label("Mot de passe", exact=True).fill(enrolment["password"])
    desk.get_by_label("Code de votre application de codes").fill(
        pyotp.parse_uri(enrolment["totp_uri"]).now()
    )
    desk.get_by_role("button", name="Se connecter").click()
    expect(desk.get_by_role("heading", name="Choisissez votre mot de passe")).to_be_visible()
    expect(desk).to_have_title("Choisissez votre mot de passe - Espace aidant - Mon Compte - Caf")
    counter.screenshot("20c-aidant-nouveau-mot-de-passe")
    desk.get_by_label("Nouveau mot de passe").fill(MEDIATOR_PASSWORD)
    desk.get_by_role("button", name="Enregistrer").click()
    expect(desk.get_by_role("heading", name="Mes mandats")).to_be_visible()
    expect(desk.locator("#mediator-summary")).to_contain_text(f"{code[:4]} {code[4:]}")
    mandates = desk.locator("#mandates")
    expect(mandates).to_contain_text("Personne 2 99 •• •• ••• 077")  # the NIR, masked
    assert NIR not in desk.content()
    counter.screenshot("21-aidant-mandats")

    # ...opens a session under the mandate: the view says whose account it is.
    desk.get_by_role(
        "button", name="Ouvrir une session pour la personne 2 99 •• •• ••• 077"
    ).click()
    expect(desk.get_by_role("note")).to_contain_text(
        "Vous agissez pour la personne 2 99 •• •• ••• 077, avec son accord"
    )
    expect(desk.locator("#holder-activity")).to_contain_text(
        "Camille Martin (France Services de Montreuil) a ouvert une session sur votre compte"
    )
    counter.screenshot("22-aidant-session-deleguee")

    # The holder revokes the mandate, and sees in « Mon activité » that it was used.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Retirer le mandat de Camille Martin").click()
    expect(page.locator("#message")).to_contain_text("Le mandat de Camille Martin a été retiré")
    expect(page.locator("#mandates")).to_contain_text("Mandat retiré le")
    expect(page.locator("#activity")).to_contain_text(
        "Camille Martin (France Services de Montreuil) a ouvert une session sur votre compte"
    )
    phone.screenshot("23-mandat-retire")

    # At once, the mediator's next action is refused, and the mandate is gone.
    desk.get_by_role("button", name="Actualiser").click()
    alert = desk.get_by_role("alert")
    expect(alert).to_have_text(re.compile("mandat a pris fin, a été retiré"))
    expect(desk.get_by_role("heading", name="Mes mandats")).to_be_visible()
    expect(mandates).to_contain_text("Aucun mandat en cours.")
    counter.screenshot("24-aidant-refuse")
