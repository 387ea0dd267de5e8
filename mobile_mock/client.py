"""``MobileApp``: what the Caf app does, one method per user action.

It keeps tokens in memory as the app does (and in the device's secure storage when the
device is saved), refreshes an expired access token once, and raises
:class:`ApiProblem`, carrying the problem+json ``code``, for every refusal.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import faults as fault_options
from . import franceconnect
from .authenticator import AuthenticatorError
from .device import Device
from .mailbox import DevOutbox, Mailbox
from .sms import DevSmsOutbox, e164
from .transport import HttpTransport, Reply, Transport

API = "/api/v1"
# Where FranceConnect sends the person back to the app (one of the server's
# FRANCECONNECT_RETURN_URLS).
APP_LINK = "fr.caf.moncompte:/fc"


class ApiProblem(Exception):
    """The service refused: ``code`` is the contract's stable identifier."""

    def __init__(self, status: int, body: Any) -> None:
        body = body if isinstance(body, dict) else {}
        self.status = status
        self.code: str = body.get("code", f"http_{status}")
        self.detail: str = body.get("detail", "")
        self.body = body
        super().__init__(f"{status} {self.code}: {self.detail}")


def call(
    transport: Transport,
    method: str,
    path: str,
    *,
    token: str | None = None,
    json: Any = None,
    expect: int | tuple[int, ...] = 200,
) -> Any:
    """Send one API request as the apps do; return the body, or raise ``ApiProblem``."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    reply: Reply = transport.request(method, API + path, json=json, headers=headers)
    expected = (expect,) if isinstance(expect, int) else expect
    if reply.status not in expected:
        raise ApiProblem(reply.status, reply.body)
    return reply.body


class MobileApp:
    def __init__(
        self,
        base_url: str | None = None,
        *,
        device: Device | None = None,
        transport: Transport | None = None,
        mailbox: Mailbox | None = None,
        email: str | None = None,
        phone: str | None = None,
        trusted_email: str | None = None,
        sms_inbox: Mailbox | None = None,
    ) -> None:
        if transport is None:
            if base_url is None:
                raise ValueError("give a base_url or a transport")
            transport = HttpTransport(base_url)
        self.transport = transport
        self.device = device or Device()
        self.mailbox = mailbox or DevOutbox(transport)
        self.sms_inbox = sms_inbox or DevSmsOutbox(transport)
        # Where this person reads codes: their mailbox, their phone, their trusted person's.
        self.email, self.phone, self.trusted_email = email, phone, trusted_email
        self.mfa_token: str | None = None
        self.methods: list[str] = []
        self.hints: dict[str, str] = {}
        self.code_channel: str | None = None
        self._last_code_message = None
        self._last_contact_message = None
        self.recovery_token: str | None = None
        self.recovery_channel: str | None = None

    # --- plumbing -----------------------------------------------------------------------

    @property
    def access_token(self) -> str | None:
        return self.device.session.get("access_token")

    @property
    def refresh_token(self) -> str | None:
        return self.device.session.get("refresh_token")

    @property
    def signed_in(self) -> bool:
        return bool(self.access_token)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return call(self.transport, method, path, **kwargs)

    def _authed(self, method: str, path: str, **kwargs: Any) -> Any:
        if not self.access_token:
            raise ApiProblem(
                401, {"code": "not_signed_in", "detail": "Connectez-vous d'abord (sign-in)."}
            )
        try:
            return self._call(method, path, token=self.access_token, **kwargs)
        except ApiProblem as problem:
            if problem.code != "token_expired" or not self.refresh_token:
                raise
        self.refresh()  # as the app does: one silent refresh, then retry once
        return self._call(method, path, token=self.access_token, **kwargs)

    def _keep(self, pair: dict[str, Any]) -> dict[str, Any]:
        self.device.session = {
            "access_token": pair["access_token"],
            "refresh_token": pair["refresh_token"],
        }
        if pair.get("device_token"):
            self.device.device_token = pair["device_token"]
        self.mfa_token = None
        return pair

    # --- sign-in ------------------------------------------------------------------------

    def sign_in(self, nir: str, password: str) -> dict[str, Any]:
        """The password step: NIR and password. Returns the offered second factors."""
        credentials = {"nir": nir, "password": password}
        if self.device.device_token:
            credentials["device_token"] = self.device.device_token
        body = self._call("POST", "/auth/login", json=credentials)
        self.mfa_token = body["mfa_token"]
        self.methods = body["methods"]
        self.hints = {k: v for k, v in body.items() if k.endswith("_hint")}
        return body

    @property
    def email_hint(self) -> str | None:
        return self.hints.get("email_hint")

    def _inbox(self, channel: str, address: str | None = None) -> tuple[Mailbox, str]:
        """Where a code on ``channel`` arrives: the inbox and the address to look at."""
        inbox = self.sms_inbox if channel in {"sms", "phone"} else self.mailbox
        address = address or {
            "email": self.email,
            "sms": self.phone,
            "trusted_email": self.trusted_email,
        }.get(channel)
        if not address:
            option = {"sms": "phone"}.get(channel, channel)
            raise ValueError(f"MobileApp({option}=...) is needed to read a code sent by {channel}")
        return inbox, e164(address) if inbox is self.sms_inbox else address

    def send_code(self, channel: str | None = None) -> dict[str, Any]:
        """« Envoyer le code », by ``channel`` (the service's default when None)."""
        # The service's default is the first code channel it offered.
        offered = [m.removesuffix("_otp") for m in self.methods if m.endswith("_otp")]
        expected = channel or (offered[0] if offered else "email")
        try:
            inbox, address = self._inbox(expected)
            self._last_code_message = inbox.latest(address)
        except ValueError:
            self._last_code_message = None  # the code will have to be typed (--code)
        body = {"channel": channel} if channel else None
        sent = self._call("POST", "/auth/otp", token=self.mfa_token, json=body, expect=202)
        self.code_channel = sent["channel"]
        return sent

    def fetch_code(self) -> str:
        """Read the code just sent (mailbox, SMS outbox or SMS sink, by its channel)."""
        inbox, address = self._inbox(self.code_channel or "email")
        return inbox.wait_for_code(address, after=self._last_code_message)

    def verify_code(self, code: str) -> dict[str, Any]:
        pair = self._call("POST", "/auth/otp/verify", token=self.mfa_token, json={"code": code})
        return self._keep(pair)

    def sign_in_with_code(
        self, nir: str, password: str, code: str | None = None, *, channel: str | None = None
    ) -> dict:
        """The whole sign-in with a code, read from where it was sent unless given."""
        self.sign_in(nir, password)
        self.send_code(channel)
        return self.verify_code(code or self.fetch_code())

    def sign_in_with_biometrics(
        self, nir: str, password: str, *, faults: list[str] = ()
    ) -> dict[str, Any]:
        """Password step, then the fingerprint instead of the emailed code."""
        self.sign_in(nir, password)
        return self.verify_biometrics(faults=faults)

    def verify_biometrics(self, *, faults: list[str] = ()) -> dict[str, Any]:
        """The fingerprint instead of the emailed code, after the password step."""
        faults = fault_options.check(list(faults))
        options = self._call("POST", "/auth/webauthn/options", token=self.mfa_token)
        assertion = self._assert(options, faults)
        pair = self._call("POST", "/auth/webauthn/verify", token=self.mfa_token, json=assertion)
        return self._accepted(assertion, pair)

    def sign_in_with_passkey(self, *, faults: list[str] = ()) -> dict[str, Any]:
        """« Se connecter avec la biométrie »: the fingerprint alone, no NIR or password."""
        faults = fault_options.check(list(faults))
        body = {"device_token": self.device.device_token} if self.device.device_token else {}
        started = self._call("POST", "/auth/passkey/options", json=body)
        assertion = self._assert(started["options"], faults)
        pair = self._call(
            "POST", "/auth/passkey/verify", token=started["passkey_token"], json=assertion
        )
        return self._accepted(assertion, pair)

    def _assert(self, options: dict[str, Any], faults: list[str]) -> dict[str, Any]:
        """Have the phone answer ``options`` (request options), misbehaving as ``faults`` say."""
        authenticator = self.device.authenticator
        if "replay" in faults:
            if authenticator.last_assertion is None:
                raise AuthenticatorError("nothing to replay yet")
            return authenticator.last_assertion
        kwargs = {
            "origin": self.device.origin,
            **fault_options.get_options(faults, self.device, options),
        }
        return authenticator.get(options, **kwargs)

    def _accepted(self, assertion: dict[str, Any], pair: dict[str, Any]) -> dict[str, Any]:
        # The server took this counter: a "cloned" phone must not present more than it.
        self.device.authenticator.record_accepted(assertion)
        return self._keep(pair)

    def refresh(self) -> dict[str, Any]:
        pair = self._call("POST", "/auth/refresh", token=self.refresh_token)
        return self._keep(pair)

    def sign_out(self) -> str | None:
        """End the session; return the provider's sign-out URL if FranceConnect opened it."""
        try:
            body = self._call("POST", "/auth/logout", token=self.access_token, expect=(200, 204))
        finally:
            self.device.session = {}
        return (body or {}).get("franceconnect_logout_url")

    # --- FranceConnect+ -----------------------------------------------------------------

    def franceconnect_sign_in(
        self,
        identity: str,
        *,
        acr: str = "eidas2",
        return_to: str = APP_LINK,
        cancel: bool = False,
    ) -> dict[str, Any]:
        """« S'identifier avec FranceConnect »: PKCE, the provider, the hand-off.

        A refusal at the provider comes back as ``franceconnect_failed``; an identity not
        linked yet as ``link_required``, whose link token the app keeps for
        :meth:`link_franceconnect`.
        """
        browser = franceconnect.ProviderBrowser(self.transport)
        verifier = franceconnect.new_verifier()
        try:
            provider_url = browser.start(
                return_to=return_to, challenge=franceconnect.challenge_of(verifier)
            )
        except franceconnect.ServiceRefused as refused:
            raise ApiProblem(refused.status, refused.body) from None
        if cancel:
            returned = browser.cancel(provider_url, return_to=return_to)
        else:
            returned = browser.sign_in(
                provider_url, identity=identity, acr=acr, return_to=return_to
            )
        if returned.error or not returned.handoff:
            raise ApiProblem(
                0,
                {
                    "code": returned.error or "no_handoff",
                    "detail": "La connexion avec FranceConnect n'a pas abouti.",
                },
            )
        body = {"handoff": returned.handoff, "code_verifier": verifier}
        if self.device.device_token:
            body["device_token"] = self.device.device_token
        try:
            pair = self._call("POST", "/auth/franceconnect/complete", json=body)
        except ApiProblem as problem:
            if problem.code == "link_required":
                self.device.franceconnect_link_token = problem.body.get("link_token")
            raise
        return self._keep(pair)

    def link_franceconnect(self) -> dict[str, Any]:
        """Link the identity of the last ``link_required`` (signed in the usual way first)."""
        token = self.device.franceconnect_link_token
        if not token:
            raise ApiProblem(
                0,
                {
                    "code": "no_link_token",
                    "detail": "Aucune identité FranceConnect à associer (franceconnect-sign-in).",
                },
            )
        linked = self._authed(
            "POST", "/account/franceconnect", json={"link_token": token}, expect=201
        )
        self.device.franceconnect_link_token = None
        return linked

    def unlink_franceconnect(self) -> None:
        self._authed("DELETE", "/account/franceconnect", expect=204)

    def franceconnect_sign_out(self, logout_url: str) -> str:
        """Open the provider's sign-out URL and confirm; return where it sent the person."""
        back_to = parse_qs(urlsplit(logout_url).query)["post_logout_redirect_uri"][0]
        browser = franceconnect.ProviderBrowser(self.transport)
        return browser.sign_out(logout_url, return_to=back_to).url

    def change_password(self, new_password: str, current_password: str | None = None) -> None:
        """« Changer mon mot de passe »; just after FranceConnect, without the current one."""
        body = {"new_password": new_password}
        if current_password is not None:
            body["current_password"] = current_password
        self._authed("PUT", "/account/password", json=body, expect=204)

    # --- « Mot de passe oublié » and the counter ----------------------------------------

    def forgot_password(self, nir: str, channel: str = "email") -> dict[str, Any]:
        """« Mot de passe oublié »: a code by ``channel`` (``email`` or ``sms``).

        The service answers the same whether or not the NIR has an account with that
        channel: only the person's own mailbox or phone tells.
        """
        try:
            inbox, address = self._inbox(channel)
            self._last_code_message = inbox.latest(address)
        except ValueError:
            self._last_code_message = None  # the code will have to be typed (--code)
        started = self._call(
            "POST", "/auth/recovery", json={"nir": nir, "channel": channel}, expect=202
        )
        self.recovery_token, self.recovery_channel = started["recovery_token"], channel
        return started

    def fetch_recovery_code(self) -> str:
        """Read the recovery code just sent, where it was sent."""
        inbox, address = self._inbox(self.recovery_channel or "email")
        return inbox.wait_for_code(address, after=self._last_code_message)

    def reset_password(self, code: str, new_password: str) -> None:
        """Type the recovery code and the new password: every session ends, this one too."""
        self._call(
            "POST",
            "/auth/recovery/verify",
            token=self.recovery_token,
            json={"code": code, "new_password": new_password},
            expect=204,
        )
        self.recovery_token = None
        self.device.session = {}

    def counter_recovery(
        self,
        nir: str,
        recovery_code: str,
        new_password: str,
        *,
        email: str | None = None,
        phone: str | None = None,
    ) -> None:
        """Use the code an agent handed over at the counter: new password, new contacts."""
        body: dict[str, Any] = {
            "nir": nir,
            "recovery_code": recovery_code,
            "new_password": new_password,
        }
        if email:
            body["email"] = email
        if phone:
            body["phone"] = phone
        self._call("POST", "/auth/recovery/counter", json=body, expect=204)
        # From now on, codes arrive at the new contacts.
        self.email = email or self.email
        self.phone = phone or self.phone
        self.device.session = {}

    # --- « Gérer mon compte » -----------------------------------------------------------

    def disconnect_all(self) -> None:
        """« Déconnecter tous mes appareils »: every session but this one ends."""
        self._authed("DELETE", "/account/sessions", expect=204)

    def not_me(self, event_id: str) -> None:
        """« Ce n'était pas moi » on an activity item: every other session ends."""
        self._authed("POST", f"/account/activity/{event_id}/not-me", expect=204)

    def account(self) -> dict[str, Any]:
        return self._authed("GET", "/account")

    def menu(self) -> list[dict[str, Any]]:
        return self._authed("GET", "/account/menu")["items"]

    def activity(self) -> list[dict[str, Any]]:
        return self._authed("GET", "/account/activity")["items"]

    def sessions(self) -> list[dict[str, Any]]:
        return self._authed("GET", "/account/sessions")["items"]

    def enable_biometrics(self, name: str = "Mon téléphone", *, faults: list[str] = ()) -> dict:
        """« Activer la connexion biométrique »: register this phone's authenticator."""
        faults = fault_options.check(list(faults))
        entry = next(item for item in self.menu() if item["id"] == "biometrics_enable")
        options = self._authed(entry["method"], entry["href"].removeprefix(API))
        kwargs = {"origin": self.device.origin, **fault_options.create_options(faults)}
        credential = self.device.authenticator.create(options, **kwargs)
        return self._authed(
            "POST",
            "/account/authenticators",
            json={"credential": credential, "name": name},
            expect=201,
        )

    def authenticators(self) -> list[dict[str, Any]]:
        return self._authed("GET", "/account/authenticators")["items"]

    def rename(self, authenticator_id: str, name: str) -> dict[str, Any]:
        return self._authed(
            "PATCH", f"/account/authenticators/{authenticator_id}", json={"name": name}
        )

    def remove(self, authenticator_id: str) -> None:
        self._authed("DELETE", f"/account/authenticators/{authenticator_id}", expect=204)

    # --- « Mes aidants » ----------------------------------------------------------------

    def mandates(self) -> list[dict[str, Any]]:
        return self._authed("GET", "/account/mandates")["items"]

    def grant_mandate(
        self, mediator_code: str, scopes: list[str], duration_days: int
    ) -> dict[str, Any]:
        """Give the mediator of ``mediator_code`` a mandate (needs a fresh sign-in)."""
        return self._authed(
            "POST",
            "/account/mandates",
            json={
                "mediator_code": mediator_code,
                "scopes": list(scopes),
                "duration_days": duration_days,
            },
            expect=201,
        )

    def revoke_mandate(self, mandate_id: str) -> None:
        self._authed("DELETE", f"/account/mandates/{mandate_id}", expect=204)

    # --- « Mes coordonnées » ------------------------------------------------------------

    def contacts(self) -> dict[str, Any]:
        return self._authed("GET", "/account/contacts")

    def add_contact(self, kind: str, value: str, name: str | None = None) -> dict[str, Any]:
        """Ask for a change: a code goes to ``value`` (the new address or number)."""
        inbox, address = self._inbox(kind, value)
        self._last_contact_message = inbox.latest(address)
        body = {"value": value} if name is None else {"value": value, "name": name}
        return self._authed("PUT", f"/account/contacts/{kind}", json=body, expect=202)

    def fetch_contact_code(self, kind: str, value: str) -> str:
        inbox, address = self._inbox(kind, value)
        return inbox.wait_for_code(address, after=self._last_contact_message)

    def verify_contact(self, kind: str, code: str) -> dict[str, Any]:
        """Type the code the new contact received: the change is in force."""
        return self._authed("POST", f"/account/contacts/{kind}/verify", json={"code": code})

    def change_contact(self, kind: str, value: str, name: str | None = None) -> dict[str, Any]:
        """Add or change a contact in one go, reading the code where it was sent."""
        self.add_contact(kind, value, name)
        return self.verify_contact(kind, self.fetch_contact_code(kind, value))

    def remove_contact(self, kind: str) -> None:
        self._authed("DELETE", f"/account/contacts/{kind}", expect=204)
