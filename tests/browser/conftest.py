"""Chromium, driven by Playwright, with a CDP virtual authenticator.

Debian's Chromium (``apt-get install -y chromium``) is used, never a downloaded browser.
Outside CI the tests are skipped, with a message, when it is absent; in CI they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import a11y
from tests.timeouts import COMMAND_SECONDS, HTTP_SECONDS

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = a11y.ARTIFACTS  # screenshots of every screen, ignored by git
PHONE = {"width": 390, "height": 844}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser() -> Iterator:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        message = f"Chromium not found at {CHROMIUM}: apt-get install -y chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import expect, sync_playwright

    # Playwright's assertions give up after 5 s: on a busy machine a sign-in (argon2id,
    # then rendering) can take longer. They return as soon as they hold.
    expect.set_options(timeout=HTTP_SECONDS * 1000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


# Before any page script: record how the page asks for credentials ("conditional" for
# passkey autofill, "modal" for a button), and optionally play a browser that offers no
# passkey autofill (isConditionalMediationAvailable() false).
WEBAUTHN_SPY = """
(() => {
  window.__webauthnGets = [];
  const get = navigator.credentials.get.bind(navigator.credentials);
  navigator.credentials.get = (options) => {
    window.__webauthnGets.push((options && options.mediation) || "modal");
    return get(options);
  };
  if (%s && window.PublicKeyCredential) {
    PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);
  }
})();
"""


class VirtualPhone:
    """A page on a phone-sized screen with a platform authenticator (CDP WebAuthn domain).

    Chromium's virtual authenticator answers a passkey autofill request at once, as if the
    person picked the first suggestion; ``passkey_autofill=False`` plays a browser without
    passkey autofill, for journeys through the password and the buttons.
    """

    def __init__(
        self,
        browser,
        *,
        user_verified: bool = True,
        passkey_autofill: bool = True,
        axe_source: str | None = None,
    ) -> None:
        self.axe_source = axe_source
        self.context = browser.new_context(viewport=PHONE, locale="fr-FR", device_scale_factor=2)
        self.context.add_init_script(WEBAUTHN_SPY % ("false" if passkey_autofill else "true"))
        self.context.set_default_timeout(HTTP_SECONDS * 1000)
        self.context.set_default_navigation_timeout(HTTP_SECONDS * 1000)
        self.page = self.context.new_page()
        self.cdp = self.context.new_cdp_session(self.page)
        self.cdp.send("WebAuthn.enable", {"enableUI": False})
        self.authenticator_id = self.cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": user_verified,
                    "automaticPresenceSimulation": True,
                }
            },
        )["authenticatorId"]

    def set_user_verified(self, verified: bool) -> None:
        self.cdp.send(
            "WebAuthn.setUserVerified",
            {"authenticatorId": self.authenticator_id, "isUserVerified": verified},
        )

    def webauthn_requests(self) -> list[str]:
        """Return how the page asked for credentials so far: "conditional" or "modal"."""
        return self.page.evaluate("window.__webauthnGets")

    def credentials(self) -> list[dict]:
        return self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.authenticator_id})[
            "credentials"
        ]

    def screenshot(self, name: str) -> Path:
        """Keep a screenshot of this screen and, given axe's source, check its accessibility.

        Every screen a journey photographs is thus checked (``a11y.check_screen``).
        """
        if self.axe_source is not None:
            a11y.check_screen(self.page, name, self.axe_source)
            return ARTIFACTS / f"{name}.png"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's axe.min.js, installed from the committed lock file when node_modules lacks it."""
    try:
        return a11y.install_axe(timeout=COMMAND_SECONDS)
    except a11y.Unavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture
def assert_accessible(axe_source):
    """``assert_accessible(page, screen_name)``: axe (WCAG 2.1 A/AA), live regions, focus
    rings, reflow at 200 % and 320 px, screenshots; see tests/browser/a11y.py."""

    def check(page, screen_name: str, *, tab_through: bool = True) -> None:
        a11y.check_screen(page, screen_name, axe_source, tab_through=tab_through)

    return check


@pytest.fixture
def phone(browser, axe_source) -> Iterator[VirtualPhone]:
    """A phone whose browser offers passkey autofill."""
    device = VirtualPhone(browser, axe_source=axe_source)
    yield device
    device.close()


@pytest.fixture
def phone_without_autofill(browser, axe_source) -> Iterator[VirtualPhone]:
    device = VirtualPhone(browser, passkey_autofill=False, axe_source=axe_source)
    yield device
    device.close()


@pytest.fixture
def unverified_phone(browser, axe_source) -> Iterator[VirtualPhone]:
    device = VirtualPhone(
        browser, user_verified=False, passkey_autofill=False, axe_source=axe_source
    )
    yield device
    device.close()


@pytest.fixture
def web_server(start_live_server, smtp):
    """The service on http://localhost:<port>, RP ID localhost, real mail to the SMTP sink."""
    return start_live_server(
        host="localhost",
        WEBAUTHN_RP_ID="localhost",
        WEBAUTHN_ORIGINS="http://localhost:{port}",
        MAIL_BACKEND="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp.port),
    )
