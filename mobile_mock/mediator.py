"""``MediatorApp``: what a mediator does (France Services, a social worker), one method each.

The mediator signs in with their own account: email, password and the 6-digit code of
their authenticator app, computed here from the enrolment URI the operator command
printed (``otpauth://totp/…``), as any authenticator app would. They list the mandates
holders gave them, open a delegated session under one, and read the holder's account
with the delegated token.

A TOTP code is accepted once: the app remembers the last period it used and, like a
person watching the app, waits for the next code rather than typing the same one again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pyotp

from .client import ApiProblem, call
from .device import Device
from .transport import Transport


class MediatorApp:
    def __init__(
        self,
        *,
        transport: Transport,
        device: Device | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.transport = transport
        self.device = device or Device()
        self.clock = clock
        self.sleep = sleep

    # --- plumbing -----------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return call(self.transport, method, path, **kwargs)

    def _mine(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call a mediator endpoint with the mediator's token, refreshed once if expired."""
        token = self.device.session.get("access_token")
        if not token:
            raise ApiProblem(
                401, {"code": "not_signed_in", "detail": "Connectez-vous d'abord (sign-in)."}
            )
        try:
            return self._call(method, path, token=token, **kwargs)
        except ApiProblem as problem:
            if problem.code != "token_expired" or not self.device.session.get("refresh_token"):
                raise
        pair = self._call("POST", "/auth/refresh", token=self.device.session["refresh_token"])
        self._keep(pair)
        return self._call(method, path, token=self.device.session["access_token"], **kwargs)

    def _delegated(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call a holder's endpoint with the delegated token of the open session."""
        token = self.device.delegated.get("access_token")
        if not token:
            raise ApiProblem(
                401, {"code": "no_delegated_session", "detail": "Ouvrez d'abord une session."}
            )
        return self._call(method, path, token=token, **kwargs)

    def _keep(self, pair: dict[str, Any]) -> None:
        self.device.session = {
            "access_token": pair["access_token"],
            "refresh_token": pair["refresh_token"],
        }

    # --- the authenticator app -----------------------------------------------------------

    def enrol(self, totp_uri: str) -> None:
        """Scan the enrolment URI into this device's authenticator app."""
        pyotp.parse_uri(totp_uri)  # refuse a malformed URI now, not at sign-in
        if self.device.totp.get("uri") != totp_uri:
            self.device.totp = {"uri": totp_uri, "last_step": None}

    def code(self) -> str:
        """Return the app's current code, waiting for a new one if this one was used."""
        uri = self.device.totp.get("uri")
        if not uri:
            raise ApiProblem(0, {"code": "no_totp", "detail": "Donnez l'URI d'enrôlement TOTP."})
        totp = pyotp.parse_uri(uri)
        last = self.device.totp.get("last_step")
        while True:
            now = self.clock()
            step = int(now // totp.interval)
            if last is None or step > last:
                self.device.totp["last_step"] = step
                return totp.generate_otp(step)
            self.sleep((last + 1) * totp.interval - now + 0.1)

    # --- the mediator's own account -----------------------------------------------------

    def sign_in(
        self, email: str, password: str, *, totp_uri: str | None = None, code: str | None = None
    ) -> dict[str, Any]:
        """Password and the authenticator app's code. Returns the sign-in answer."""
        if totp_uri:
            self.enrol(totp_uri)
        body = {"email": email, "password": password, "totp": code or self.code()}
        signed_in = self._call("POST", "/mediator/login", json=body)
        self._keep(signed_in)
        return signed_in

    def change_password(self, current: str, new: str) -> None:
        self._mine(
            "PUT",
            "/mediator/password",
            json={"current_password": current, "new_password": new},
            expect=204,
        )

    def profile(self) -> dict[str, Any]:
        return self._mine("GET", "/mediator")

    def mandates(self) -> list[dict[str, Any]]:
        return self._mine("GET", "/mediator/mandates")["items"]

    def sign_out(self) -> None:
        self._mine("POST", "/mediator/logout", expect=204)
        self.device.session = {}
        self.device.delegated = {}

    # --- acting for a holder --------------------------------------------------------------

    def open_mandate(self, mandate_id: str) -> dict[str, Any]:
        """Open a delegated session under a mandate; keep its token (no refresh token)."""
        opened = self._mine("POST", f"/mediator/mandates/{mandate_id}/session")
        self.device.delegated = {"access_token": opened["access_token"], "mandate_id": mandate_id}
        return opened

    def holder_account(self) -> dict[str, Any]:
        return self._delegated("GET", "/account")

    def holder_activity(self) -> list[dict[str, Any]]:
        return self._delegated("GET", "/account/activity")["items"]

    def change_holder_password(self) -> None:
        """Try what a mandate never allows: change the holder's password."""
        self._delegated(
            "PUT",
            "/account/password",
            json={"current_password": "inconnu de l'aidant", "new_password": "Pris par l'aidant 1"},
            expect=204,
        )

    def close_session(self) -> None:
        """End the delegated session (the holder sees it in their activity)."""
        self._delegated("POST", "/auth/logout", expect=204)
        self.device.delegated = {}
