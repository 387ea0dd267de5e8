"""``MobileApp``: what the Caf app does, one method per user action.

It keeps tokens in memory as the app does (and in the device's secure storage when the
device is saved), refreshes an expired access token once, and raises
:class:`ApiProblem`, carrying the problem+json ``code``, for every refusal.
"""

from __future__ import annotations

from typing import Any

from . import faults as fault_options
from .authenticator import AuthenticatorError
from .device import Device
from .mailbox import DevOutbox, Mailbox
from .transport import HttpTransport, Reply, Transport

API = "/api/v1"


class ApiProblem(Exception):
    """The service refused: ``code`` is the contract's stable identifier."""

    def __init__(self, status: int, body: Any) -> None:
        body = body if isinstance(body, dict) else {}
        self.status = status
        self.code: str = body.get("code", f"http_{status}")
        self.detail: str = body.get("detail", "")
        self.body = body
        super().__init__(f"{status} {self.code}: {self.detail}")


class MobileApp:
    def __init__(
        self,
        base_url: str | None = None,
        *,
        device: Device | None = None,
        transport: Transport | None = None,
        mailbox: Mailbox | None = None,
        email: str | None = None,
    ) -> None:
        if transport is None:
            if base_url is None:
                raise ValueError("give a base_url or a transport")
            transport = HttpTransport(base_url)
        self.transport = transport
        self.device = device or Device()
        self.mailbox = mailbox or DevOutbox(transport)
        self.email = email
        self.mfa_token: str | None = None
        self.methods: list[str] = []
        self.email_hint: str | None = None
        self._last_code_message = None

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

    def _call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        expect: int | tuple[int, ...] = 200,
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        reply: Reply = self.transport.request(method, API + path, json=json, headers=headers)
        expected = (expect,) if isinstance(expect, int) else expect
        if reply.status not in expected:
            raise ApiProblem(reply.status, reply.body)
        return reply.body

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
        self.email_hint = body["email_hint"]
        return body

    def send_code(self) -> dict[str, Any]:
        """« Envoyer le code »."""
        if self.email:
            self._last_code_message = self.mailbox.latest(self.email)
        return self._call("POST", "/auth/otp", token=self.mfa_token, expect=202)

    def fetch_code(self) -> str:
        """Read the code the service just mailed (development outbox or SMTP sink)."""
        if not self.email:
            raise ValueError("MobileApp(email=...) is needed to read the mailbox")
        return self.mailbox.wait_for_code(self.email, after=self._last_code_message)

    def verify_code(self, code: str) -> dict[str, Any]:
        pair = self._call("POST", "/auth/otp/verify", token=self.mfa_token, json={"code": code})
        return self._keep(pair)

    def sign_in_with_code(self, nir: str, password: str, code: str | None = None) -> dict:
        """The whole sign-in with the emailed code, read from the mailbox unless given."""
        self.sign_in(nir, password)
        self.send_code()
        return self.verify_code(code or self.fetch_code())

    def sign_in_with_biometrics(
        self, nir: str, password: str, *, faults: list[str] = ()
    ) -> dict[str, Any]:
        """Password step, then the fingerprint instead of the emailed code."""
        self.sign_in(nir, password)
        return self.verify_biometrics(faults=faults)

    def verify_biometrics(self, *, faults: list[str] = ()) -> dict[str, Any]:
        faults = fault_options.check(list(faults))
        options = self._call("POST", "/auth/webauthn/options", token=self.mfa_token)
        authenticator = self.device.authenticator
        if "replay" in faults:
            if authenticator.last_assertion is None:
                raise AuthenticatorError("nothing to replay yet")
            assertion = authenticator.last_assertion
        else:
            kwargs = {
                "origin": self.device.origin,
                **fault_options.get_options(faults, self.device, options),
            }
            assertion = authenticator.get(options, **kwargs)
        pair = self._call("POST", "/auth/webauthn/verify", token=self.mfa_token, json=assertion)
        return self._keep(pair)

    def refresh(self) -> dict[str, Any]:
        pair = self._call("POST", "/auth/refresh", token=self.refresh_token)
        return self._keep(pair)

    def sign_out(self) -> None:
        try:
            self._call("POST", "/auth/logout", token=self.access_token, expect=204)
        finally:
            self.device.session = {}

    # --- « Gérer mon compte » -----------------------------------------------------------

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
