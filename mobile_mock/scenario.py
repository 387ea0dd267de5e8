"""Scenarios: small JSON or YAML files of app actions with their expected outcomes.

```json
{"name": "…", "steps": [
  {"do": "sign_in_with_code"},
  {"do": "enable_biometrics", "name": "Pixel 8"},
  {"do": "sign_out"},
  {"do": "bio_sign_in", "faults": ["cloned"], "expect": "webauthn_failed"}
]}
```

Actions: ``sign_in_with_code``, ``sign_in`` (password step only), ``bio_sign_in``
(password, then the fingerprint), ``passkey_sign_in`` (the fingerprint alone),
``enable_biometrics``, ``devices`` (optional ``blocked`` / ``discoverable`` checks),
``remove``, ``sign_out``, ``refresh``, ``menu``, ``activity`` (optional ``has``),
``add_contact``, ``remove_contact``, ``restore_contacts``, ``contacts``, the holder's
side of mandates: ``grant_mandate``, ``mandates``, ``revoke_mandate``, and recovery:
``forgot_password`` (a code by ``channel``, then ``new_password``), ``counter_recovery``
(the code an agent printed, given to the runner; ``new_password``, optional ``email`` /
``phone``), ``restore_password``, ``disconnect_all``, ``not_me``.
``faults`` apply to ``enable_biometrics``, ``bio_sign_in`` and ``passkey_sign_in``.

A step runs on the app named by ``app`` (default ``phone``; others are fresh phones of
the same person). The mediator's steps (``mediator_*``, ``open_mandate``, ``delegated_*``,
``close_delegated``) run on a mediator's device (default ``aidant``), signed in with the
mediator credentials the runner was given. ``expect`` is ``ok`` (default), a problem
``code``, or a list of acceptable outcomes. The run stops at the first unexpected outcome.

A scenario that needs the server to be a FranceConnect+ relying party says so with
``"requires": ["franceconnect"]``; its ``franceconnect_sign_in`` steps name the
``identity`` to sign in as at the provider (the local stand-in's people). One that needs
a counter code (``flask --app wsgi accounts recovery-code``) says
``"requires": ["counter_code"]`` and is run with ``--counter-code``.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .authenticator import AuthenticatorError
from .client import ApiProblem, MobileApp
from .franceconnect import BrowserError
from .mailbox import NoCodeReceived
from .mediator import MediatorApp

MAX_COOLDOWN_WAIT = 120
# The steps a mediator performs, on their own device.
MEDIATOR_ACTIONS = frozenset(
    {
        "mediator_sign_in",
        "mediator_mandates",
        "open_mandate",
        "delegated_account",
        "delegated_activity",
        "delegated_change_password",
        "close_delegated",
        "mediator_sign_out",
    }
)


class ScenarioError(ValueError):
    """The scenario file itself is wrong."""


@dataclass
class StepResult:
    index: int
    action: str
    app: str
    expected: list[str]
    outcome: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome in self.expected

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.index,
            "do": self.action,
            "app": self.app,
            "expected": self.expected,
            "outcome": self.outcome,
            "ok": self.ok,
            "detail": self.detail,
        }


@dataclass
class ScenarioResult:
    name: str
    steps: list[StepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.name, "ok": self.ok, "steps": [s.to_dict() for s in self.steps]}


def shipped() -> dict[str, Path]:
    """Return the ready scenarios shipped with mobile_mock, by name."""
    folder = resources.files("mobile_mock").joinpath("scenarios")
    return {Path(str(f)).stem: Path(str(f)) for f in folder.iterdir() if str(f).endswith(".json")}


def requirements(name: str) -> list[str]:
    """Return what the server must offer for the shipped scenario ``name`` (``franceconnect``)."""
    return list(load(name).get("requires", []))


def load(source: str | Path) -> dict[str, Any]:
    """Load a scenario from a file path, or by the name of a shipped scenario."""
    path = Path(source)
    if not path.exists():
        path = shipped().get(str(source), path)
    if not path.exists():
        raise ScenarioError(f"no scenario {source!r} (shipped: {', '.join(sorted(shipped()))})")
    text = path.read_text(encoding="utf-8")
    spec = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(spec, dict) or not isinstance(spec.get("steps"), list):
        raise ScenarioError(f"{path}: a scenario is an object with a list of steps")
    spec.setdefault("name", path.stem)
    return spec


@dataclass
class MediatorLogin:
    """What the operator command handed to a mediator (``flask mediators create``)."""

    email: str
    password: str
    totp_uri: str


class Runner:
    """Run a scenario for one person, with as many phones as its steps name.

    Scenarios with a mediator need ``mediator`` (their credentials) and
    ``make_mediator_app`` (a new mediator device, by name).
    """

    def __init__(
        self,
        make_app: Callable[[str], MobileApp],
        *,
        nir: str,
        password: str,
        sleep: Callable[[float], None] = time.sleep,
        mediator: MediatorLogin | None = None,
        make_mediator_app: Callable[[str], MediatorApp] | None = None,
        counter_code: str | None = None,
    ) -> None:
        self._make_app = make_app
        self._make_mediator_app = make_mediator_app
        self.apps: dict[str, MobileApp] = {}
        self.mediator_apps: dict[str, MediatorApp] = {}
        self.nir, self.password = nir, password
        self.mediator = mediator
        self.sleep = sleep
        # Authenticator ids each app enrolled during this run.
        self.enrolled: dict[str, list[str]] = {}
        # Mandates the person granted during this run, oldest first.
        self.granted: list[str] = []
        # Contacts removed during this run (kind -> {"value", "name"?}), to put back.
        self.removed_contacts: dict[str, dict[str, Any]] = {}
        # The code an agent printed at the counter, and the password the run started with.
        self.counter_code = counter_code
        self.initial_password = password
        # Where codes arrive after a recovery replaced a contact: every phone reads there.
        self.contacts_now: dict[str, str] = {}

    def app(self, name: str) -> MobileApp:
        if name not in self.apps:
            self.apps[name] = self._make_app(name)
            for kind, value in self.contacts_now.items():
                setattr(self.apps[name], kind, value)
        return self.apps[name]

    def mediator_app(self, name: str) -> MediatorApp:
        if self._make_mediator_app is None or self.mediator is None:
            raise ScenarioError("this scenario needs a mediator (--mediator-email, --totp-uri…)")
        if name not in self.mediator_apps:
            self.mediator_apps[name] = self._make_mediator_app(name)
        return self.mediator_apps[name]

    def run(self, spec: dict[str, Any]) -> ScenarioResult:
        result = ScenarioResult(spec.get("name", "scenario"))
        for index, step in enumerate(spec["steps"], start=1):
            if not isinstance(step, dict) or "do" not in step:
                raise ScenarioError(f"step {index}: each step needs a 'do'")
            expected = step.get("expect", "ok")
            expected = [expected] if isinstance(expected, str) else list(expected)
            if step["do"] in MEDIATOR_ACTIONS:
                app_name = step.get("app", "aidant")
                app = self.mediator_app(app_name)
            else:
                app_name = step.get("app", "phone")
                app = self.app(app_name)
            outcome, detail = self._perform(app, app_name, step)
            step_result = StepResult(index, step["do"], app_name, expected, outcome, detail)
            result.steps.append(step_result)
            if not step_result.ok:
                break
        return result

    def _perform(self, app: MobileApp, app_name: str, step: dict[str, Any]) -> tuple[str, str]:
        action = getattr(self, "_do_" + step["do"], None)
        if action is None:
            raise ScenarioError(f"unknown action {step['do']!r}")
        try:
            detail = action(app, app_name, step) or ""
        except ApiProblem as problem:
            return problem.code, problem.detail
        except AuthenticatorError as error:
            return "authenticator_refused", str(error)
        except NoCodeReceived as error:
            return "no_code_received", str(error)
        except BrowserError as error:
            return "browser_stuck", str(error)
        return "ok", detail

    # --- actions ------------------------------------------------------------------------

    def _patiently(self, action: Callable[[], Any]) -> Any:
        """Do ``action``, waiting out a code cooldown once as a patient person would."""
        try:
            return action()
        except ApiProblem as problem:
            wait = int(problem.body.get("retry_after", 0))
            if problem.code != "rate_limited" or not 0 < wait <= MAX_COOLDOWN_WAIT:
                raise
            self.sleep(wait)
            return action()

    def _do_sign_in_with_code(self, app, app_name, step):
        app.sign_in(step.get("nir", self.nir), step.get("password", self.password))
        sent = self._patiently(lambda: app.send_code(step.get("channel")))
        app.verify_code(app.fetch_code())
        return f"signed in with the code sent by {sent['channel']}"

    def _do_sign_in(self, app, app_name, step):
        body = app.sign_in(step.get("nir", self.nir), step.get("password", self.password))
        if "methods" in step and body["methods"] != step["methods"]:
            raise ApiProblem(
                0, {"code": "unexpected_state", "detail": f"methods: {body['methods']}"}
            )
        return f"methods: {', '.join(body['methods'])}"

    def _do_add_contact(self, app, app_name, step):
        """Add or change a contact; the code is read where it was sent."""
        kind = step["kind"]
        value = step.get("value") or {"email": app.email, "phone": app.phone}.get(kind)
        if not value:
            raise ScenarioError(f"add_contact {kind}: give a value")
        self._patiently(lambda: app.add_contact(kind, value, step.get("name")))
        app.verify_contact(kind, app.fetch_contact_code(kind, value))
        return f"{kind} in force"

    def _do_remove_contact(self, app, app_name, step):
        """Remove a contact, remembering it for ``restore_contacts``."""
        kind = step["kind"]
        entry = app.contacts().get(kind)
        app.remove_contact(kind)
        if entry:
            self.removed_contacts[kind] = entry
        return f"{kind} removed"

    def _do_restore_contacts(self, app, app_name, step):
        """Put back what ``remove_contact`` removed in this run: a scenario repeats."""
        for kind, entry in list(self.removed_contacts.items()):
            self._do_add_contact(app, app_name, {"kind": kind, **entry})
            del self.removed_contacts[kind]
            if kind in self.contacts_now:  # codes arrive there again
                del self.contacts_now[kind]
                for other in self.apps.values():
                    setattr(other, kind, entry["value"])
        return "contacts restored"

    def _do_contacts(self, app, app_name, step):
        contacts = app.contacts()
        present = sorted(kind for kind, entry in contacts.items() if entry)
        if "has" in step and step["has"] not in present:
            raise ApiProblem(0, {"code": "unexpected_state", "detail": f"contacts: {present}"})
        if "lacks" in step and step["lacks"] in present:
            raise ApiProblem(0, {"code": "unexpected_state", "detail": f"contacts: {present}"})
        return ", ".join(present)

    def _do_bio_sign_in(self, app, app_name, step):
        app.sign_in(step.get("nir", self.nir), step.get("password", self.password))
        app.verify_biometrics(faults=step.get("faults", []))
        return "signed in with biometrics"

    def _do_passkey_sign_in(self, app, app_name, step):
        app.sign_in_with_passkey(faults=step.get("faults", []))
        return "signed in with the passkey alone"

    def _do_enable_biometrics(self, app, app_name, step):
        device = app.enable_biometrics(
            step.get("name", "Mon téléphone"), faults=step.get("faults", [])
        )
        self.enrolled.setdefault(app_name, []).append(device["id"])
        return f"device {device['name']} enrolled"

    def _do_remove(self, app, app_name, step):
        """Remove the devices another app (``device_of``) enrolled in this run."""
        owner = step.get("device_of", app_name)
        for authenticator_id in self.enrolled.pop(owner, []):
            app.remove(authenticator_id)
        return f"devices of {owner} removed"

    def _do_devices(self, app, app_name, step):
        items = app.authenticators()
        mine = set(self.enrolled.get(step.get("device_of", app_name), []))
        for item in items:
            for state in ("blocked", "discoverable"):
                if item["id"] in mine and state in step and item[state] != step[state]:
                    raise ApiProblem(
                        0,
                        {
                            "code": "unexpected_state",
                            "detail": f"{item['name']} {state}={item[state]}",
                        },
                    )
        return f"{len(items)} device(s)"

    def _do_sign_out(self, app, app_name, step):
        logout_url = app.sign_out()
        if logout_url is None:
            return "signed out"
        # Opened with FranceConnect: sign out at the provider too, as the app's browser does.
        back = app.franceconnect_sign_out(logout_url)
        return f"signed out, and at FranceConnect (back to {back.split('?')[0]})"

    def _do_franceconnect_sign_in(self, app, app_name, step):
        app.franceconnect_sign_in(
            step.get("identity", "angela"),
            acr=step.get("acr", "eidas2"),
            cancel=bool(step.get("cancel", False)),
        )
        return "signed in with FranceConnect"

    def _do_franceconnect_link(self, app, app_name, step):
        linked = app.link_franceconnect()
        return f"FranceConnect linked: {linked['given_name']} {linked['family_name']}"

    def _do_franceconnect_unlink(self, app, app_name, step):
        app.unlink_franceconnect()
        return "FranceConnect unlinked"

    def _do_change_password(self, app, app_name, step):
        """Change the password; ``"current": true`` gives the current one (else, none)."""
        current = self.password if step.get("current") else None
        app.change_password(step["new_password"], current)
        self.password = step["new_password"]
        return "password changed"

    # --- « Mot de passe oublié » and the counter ------------------------------------------

    def _do_forgot_password(self, app, app_name, step):
        """« Mot de passe oublié »: a code by ``channel``, then the new password."""
        channel = step.get("channel", "email")
        self._patiently(lambda: app.forgot_password(step.get("nir", self.nir), channel))
        app.reset_password(app.fetch_recovery_code(), step["new_password"])
        self.password = step["new_password"]
        return f"new password set with the code sent by {channel}"

    def _do_counter_recovery(self, app, app_name, step):
        """The code an agent handed over: new password, and the new contacts given."""
        if not self.counter_code:
            raise ScenarioError("this scenario needs the code an agent printed (--counter-code)")
        old = {"email": app.email, "phone": app.phone}
        new = {kind: step[kind] for kind in ("email", "phone") if step.get(kind)}
        app.counter_recovery(
            step.get("nir", self.nir), self.counter_code, step["new_password"], **new
        )
        self.password = step["new_password"]
        for kind, value in new.items():
            if old[kind] and old[kind] != value:  # put back by ``restore_contacts``
                self.removed_contacts.setdefault(kind, {"value": old[kind]})
            self.contacts_now[kind] = value
            for other in self.apps.values():
                setattr(other, kind, value)
        return f"new password{' and ' + ', '.join(new) if new else ''} set with the counter code"

    def _do_restore_password(self, app, app_name, step):
        """Put back the password the run started with: a scenario repeats."""
        app.change_password(self.initial_password, self.password)
        self.password = self.initial_password
        return "password restored"

    def _do_disconnect_all(self, app, app_name, step):
        app.disconnect_all()
        return "every other session ended"

    def _do_not_me(self, app, app_name, step):
        """« Ce n'était pas moi » on the newest activity item of type ``type``."""
        items = app.activity()
        wanted = step.get("type")
        item = next((i for i in items if wanted is None or i["type"] == wanted), None)
        if item is None:
            raise ApiProblem(0, {"code": "unexpected_state", "detail": f"no {wanted} event"})
        app.not_me(item["id"])
        return f"reported « Ce n'était pas moi » on {item['type']}"

    def _do_refresh(self, app, app_name, step):
        app.refresh()
        return "tokens refreshed"

    def _do_menu(self, app, app_name, step):
        ids = [item["id"] for item in app.menu()]
        if "has" in step and step["has"] not in ids:
            raise ApiProblem(0, {"code": "unexpected_state", "detail": f"menu: {ids}"})
        return ", ".join(ids)

    def _do_activity(self, app, app_name, step):
        types = [item["type"] for item in app.activity()]
        if "has" in step and step["has"] not in types:
            raise ApiProblem(0, {"code": "unexpected_state", "detail": f"activity: {types}"})
        return f"{len(types)} event(s)"

    # --- « Mes aidants »: the person's side ------------------------------------------------

    def _do_grant_mandate(self, app, app_name, step):
        """Give a mandate to the mediator of the app named by ``mediator`` (their code)."""
        code = self.mediator_app(step.get("mediator", "aidant")).profile()["mediator_code"]
        mandate = app.grant_mandate(
            code, step.get("scopes", ["consult"]), step.get("duration_days", 1)
        )
        self.granted.append(mandate["id"])
        return f"mandate to {mandate['mediator']['name']} until {mandate['expires_at']}"

    def _do_mandates(self, app, app_name, step):
        in_force = [m for m in app.mandates() if m["in_force"]]
        if "in_force" in step and len(in_force) != step["in_force"]:
            raise ApiProblem(
                0, {"code": "unexpected_state", "detail": f"{len(in_force)} mandate(s) in force"}
            )
        return f"{len(in_force)} mandate(s) in force"

    def _do_revoke_mandate(self, app, app_name, step):
        """Revoke the latest mandate granted in this run."""
        app.revoke_mandate(self._granted())
        return "mandate revoked"

    def _granted(self) -> str:
        if not self.granted:
            raise ScenarioError("no mandate was granted earlier in this scenario")
        return self.granted[-1]

    # --- the mediator's side -----------------------------------------------------------------

    def _do_mediator_sign_in(self, app, app_name, step):
        """Sign in; at first sign-in, replace the operator's password as the page asks."""
        login = self.mediator
        signed_in = app.sign_in(login.email, login.password, totp_uri=login.totp_uri)
        if not signed_in["password_change_required"]:
            return "mediator signed in"
        new_password = f"Aidant {secrets.token_hex(6)}"
        app.change_password(login.password, new_password)
        login.password = new_password  # for the rest of this run
        return "mediator signed in, initial password replaced"

    def _do_mediator_mandates(self, app, app_name, step):
        ids = [mandate["id"] for mandate in app.mandates()]
        if step.get("has_granted") and self._granted() not in ids:
            raise ApiProblem(0, {"code": "unexpected_state", "detail": f"mandates: {ids}"})
        return f"{len(ids)} mandate(s)"

    def _do_open_mandate(self, app, app_name, step):
        opened = app.open_mandate(self._granted())
        return f"delegated session for {opened['expires_in']} s"

    def _do_delegated_account(self, app, app_name, step):
        return f"account {app.holder_account()['nir_masked']}"

    def _do_delegated_activity(self, app, app_name, step):
        types = [item["type"] for item in app.holder_activity()]
        if "has" in step and step["has"] not in types:
            raise ApiProblem(0, {"code": "unexpected_state", "detail": f"activity: {types}"})
        return f"{len(types)} event(s)"

    def _do_delegated_change_password(self, app, app_name, step):
        app.change_holder_password()
        return "password changed by the mediator (never expected)"

    def _do_close_delegated(self, app, app_name, step):
        app.close_session()
        return "delegated session closed"

    def _do_mediator_sign_out(self, app, app_name, step):
        app.sign_out()
        return "mediator signed out"
