"""``mobile-mock``: drive the service from a terminal as the Caf app would.

Examples (against the local demo server)::

    mobile-mock sign-in
    mobile-mock sign-in --channel sms
    mobile-mock add-contact phone 0612345678
    mobile-mock enable-biometrics --name "Pixel 8"
    mobile-mock sign-out
    mobile-mock bio-sign-in
    mobile-mock passkey-sign-in
    mobile-mock run biometric-sign-in
    mobile-mock franceconnect-sign-in --identity angela
    mobile-mock forgot-password --channel sms --new-password "Ma nouvelle phrase 2027"
    mobile-mock counter-recovery --code K7PM-Q2XD-9RTA --new-password "…" --new-email moi@exemple.fr
    mobile-mock disconnect-all
    mobile-mock run telephone-et-boite-mail-perdus --counter-code K7PM-Q2XD-9RTA

The mediator's role (``--mediator``, its own device file ``aidant.json``)::

    mobile-mock --mediator sign-in            # the demo mediator; --email --password --totp-uri
    mobile-mock grant-mandate --code K7QM4TXA --scope consult --days 31   # the holder
    mobile-mock --mediator mandates
    mobile-mock --mediator open MANDATE_ID
    mobile-mock --mediator account

Exit status: 0 when everything happened as expected, 1 on a refusal or an unexpected
outcome, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from typing import Any

from . import faults as fault_options
from . import scenario as scenarios
from .authenticator import AuthenticatorError
from .client import APP_LINK, ApiProblem, MobileApp
from .device import AppIdentity, Device
from .franceconnect import BrowserError
from .mailbox import DevOutbox, Mailbox, NoCodeReceived, SmtpSink
from .mediator import MediatorApp
from .sms import DevSmsOutbox, SmsSink
from .transport import HttpTransport

DEMO = {
    "nir": "1850575123456",
    "password": "Bienvenue à la Caf 2026",
    "email": "demo@moncompte.example",
    "phone": "+33612345678",
}
# The demo server's mediator (`flask --app wsgi demo` creates it).
DEMO_MEDIATOR = {
    "email": "aidant@moncompte.example",
    "password": "Aidant France Services 2026",
    "totp_uri": (
        "otpauth://totp/Caf%20-%20Mon%20Compte%20aidants:aidant%40moncompte.example"
        "?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Caf%20-%20Mon%20Compte%20aidants"
    ),
}
SCOPES = ("consult", "declare", "documents")
DURATIONS = (1, 31, 182, 365)
CHANNELS = ["email", "sms", "trusted_email"]
KINDS = ["email", "phone", "trusted_email"]


def _env(name: str, default: str) -> str:
    return os.environ.get(f"MOBILE_MOCK_{name.upper()}", default)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mobile-mock", description="Simulateur de l'appli Caf - Mon Compte (QA)."
    )
    parser.add_argument("--base-url", default=_env("base_url", "http://localhost:8000"))
    parser.add_argument(
        "--device",
        default=_env("device", "phone.json"),
        help="the phone's JSON file (created if missing)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--email",
        default=_env("email", DEMO["email"]),
        help="the account's address, to read the emailed code",
    )
    parser.add_argument(
        "--phone",
        default=_env("phone", DEMO["phone"]),
        help="the account's mobile (E.164, e.g. +33612345678), to read the texted code",
    )
    parser.add_argument(
        "--trusted-email",
        default=_env("trusted_email", ""),
        help="the trusted person's address, to read a code sent to them",
    )
    parser.add_argument(
        "--smtp-sink", metavar="HOST:PORT", help="run an SMTP server here and read codes from it"
    )
    parser.add_argument(
        "--sms-sink",
        metavar="HOST:PORT",
        help="run a fake SMS provider here (point SMS_API_URL at it) and read codes from it",
    )
    parser.add_argument(
        "--sms-api-key", help="the api-key the fake SMS provider requires (default: any)"
    )
    parser.add_argument(
        "--android",
        nargs=2,
        metavar=("PACKAGE", "CERT_SHA256"),
        help="make the device an Android app with this signing certificate",
    )
    parser.add_argument("--origin", help="make the device a web or iOS app with this origin")
    commands = parser.add_subparsers(dest="command", required=True)

    def with_credentials(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--nir", default=_env("nir", DEMO["nir"]))
        sub.add_argument("--password", default=_env("password", DEMO["password"]))

    def with_faults(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--fault",
            action="append",
            default=[],
            choices=sorted(fault_options.FAULTS),
            help="simulate a misbehaving phone (repeatable)",
        )

    def with_code_entry(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--code", help="the code, if you read it yourself")
        sub.add_argument("--ask-code", action="store_true", help="type the code at a prompt")

    sign_in = commands.add_parser("sign-in", help="password, then a code (email, SMS, trusted)")
    with_credentials(sign_in)
    with_code_entry(sign_in)
    sign_in.add_argument(
        "--channel", choices=CHANNELS, help="where the code goes (default: the service's choice)"
    )
    forgot = commands.add_parser(
        "forgot-password", help="« Mot de passe oublié »: a code by email or SMS, a new password"
    )
    forgot.add_argument("--nir", default=_env("nir", DEMO["nir"]))
    forgot.add_argument("--channel", choices=["email", "sms"], default="email")
    forgot.add_argument("--new-password", help="the new password (asked at a prompt if left out)")
    with_code_entry(forgot)
    counter = commands.add_parser(
        "counter-recovery", help="use the code an agent handed over: new password and contacts"
    )
    counter.add_argument("--nir", default=_env("nir", DEMO["nir"]))
    counter.add_argument("--code", required=True, help="the code printed at the counter")
    counter.add_argument("--new-password", help="the new password (asked at a prompt if left out)")
    counter.add_argument("--new-email", help="a new address, replacing the lost one")
    counter.add_argument("--new-phone", help="a new mobile number, replacing the lost one")
    commands.add_parser(
        "disconnect-all", help="« Déconnecter tous mes appareils »: end every other session"
    )
    not_me = commands.add_parser(
        "not-me", help="« Ce n'était pas moi » on an activity item: end every other session"
    )
    not_me.add_argument("id", help="the activity item's id (mobile-mock --json activity)")
    commands.add_parser("contacts", help="« Mes coordonnées »: email, mobile, trusted person")
    add = commands.add_parser(
        "add-contact", help="add or change a contact: a code goes to the new value"
    )
    add.add_argument("kind", choices=KINDS)
    add.add_argument("value", help="the address, or the mobile number (E.164 or 06…)")
    add.add_argument("--name", help="the trusted person's name (trusted_email)")
    add.add_argument(
        "--no-verify", action="store_true", help="stop once the code is sent (see verify-contact)"
    )
    with_code_entry(add)
    verify = commands.add_parser("verify-contact", help="type the code the new contact received")
    verify.add_argument("kind", choices=KINDS)
    verify.add_argument("code")
    remove_contact = commands.add_parser("remove-contact", help="remove a contact")
    remove_contact.add_argument("kind", choices=KINDS)
    enable = commands.add_parser("enable-biometrics", help="bind this phone's biometrics")
    enable.add_argument("--name", default="Mon téléphone")
    with_faults(enable)
    bio = commands.add_parser("bio-sign-in", help="password, then the fingerprint")
    with_credentials(bio)
    with_faults(bio)
    passkey = commands.add_parser(
        "passkey-sign-in", help="the fingerprint alone: no NIR, no password, no code"
    )
    with_faults(passkey)
    fc = commands.add_parser(
        "franceconnect-sign-in",
        help="« S'identifier avec FranceConnect » (the local provider's login form)",
    )
    fc.add_argument("--identity", default="angela", help="who to be at the identity provider")
    fc.add_argument("--acr", default="eidas2", choices=["eidas1", "eidas2", "eidas3"])
    fc.add_argument("--return-to", default=APP_LINK, help="the app link the server allows")
    fc.add_argument("--cancel", action="store_true", help="press « Annuler » at the provider")
    commands.add_parser(
        "franceconnect-link", help="link the identity of the last franceconnect-sign-in"
    )
    commands.add_parser("franceconnect-unlink", help="remove FranceConnect from the account")
    password = commands.add_parser(
        "change-password", help="a new password (without the current one after FranceConnect)"
    )
    password.add_argument("new_password")
    password.add_argument("--current", help="the current password, when asked for")
    commands.add_parser("devices", help="list the account's devices")
    rename = commands.add_parser("rename", help="rename a device")
    rename.add_argument("id")
    rename.add_argument("name")
    remove = commands.add_parser("remove", help="remove a device")
    remove.add_argument("id")
    commands.add_parser("mandates", help="« Mes aidants »: the mandates given")
    grant = commands.add_parser(
        "grant-mandate", help="give a mediator a mandate (signed in less than 5 minutes ago)"
    )
    grant.add_argument("--code", required=True, help="the mediator's code")
    grant.add_argument(
        "--scope", action="append", choices=SCOPES, help="repeatable (default: consult)"
    )
    grant.add_argument("--days", type=int, default=31, choices=DURATIONS)
    revoke_mandate = commands.add_parser("revoke-mandate", help="revoke a mandate")
    revoke_mandate.add_argument("id")
    commands.add_parser("menu", help="the « Gérer mon compte » entries")
    commands.add_parser("activity", help="recent security events")
    commands.add_parser("sign-out", help="end this session")
    run = commands.add_parser("run", help="run a scenario file (or a shipped scenario's name)")
    run.add_argument("scenario")
    run.add_argument(
        "--counter-code", help="the code `flask accounts recovery-code` printed, if it needs one"
    )
    with_credentials(run)
    with_mediator(run, prefix="mediator-")
    commands.add_parser("scenarios", help="list the shipped scenarios")
    return parser


def with_mediator(sub: argparse.ArgumentParser, prefix: str = "") -> None:
    """The mediator's credentials, as `flask mediators create` printed them."""
    sub.add_argument(f"--{prefix}email", default=_env("mediator_email", DEMO_MEDIATOR["email"]))
    sub.add_argument(
        f"--{prefix}password", default=_env("mediator_password", DEMO_MEDIATOR["password"])
    )
    sub.add_argument(
        "--totp-uri",
        default=_env("totp_uri", DEMO_MEDIATOR["totp_uri"]),
        help="the enrolment URI (otpauth://totp/...): this device becomes the mediator's app",
    )


def build_mediator_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mobile-mock --mediator",
        description="Simulateur de l'espace aidant de Mon Compte (QA).",
        allow_abbrev=False,
    )
    parser.add_argument("--mediator", action="store_true", help="act as a mediator (aidant)")
    parser.add_argument("--base-url", default=_env("base_url", "http://localhost:8000"))
    parser.add_argument(
        "--device",
        default=_env("mediator_device", "aidant.json"),
        help="the mediator's device file: their app's TOTP secret and tokens",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    commands = parser.add_subparsers(dest="command", required=True)
    sign_in = commands.add_parser("sign-in", help="password and the authenticator app's code")
    with_mediator(sign_in)
    sign_in.add_argument("--code", help="the 6-digit code, if you read it from your own app")
    sign_in.add_argument(
        "--new-password", help="at first sign-in: the password replacing the operator's"
    )
    change = commands.add_parser("change-password", help="change the mediator's password")
    change.add_argument("--current", required=True)
    change.add_argument("--new", required=True)
    commands.add_parser("profile", help="the mediator's account and code")
    commands.add_parser("mandates", help="the mandates in force")
    open_mandate = commands.add_parser("open", help="open a delegated session under a mandate")
    open_mandate.add_argument("mandate_id")
    commands.add_parser("account", help="the holder's account (delegated session)")
    commands.add_parser("activity", help="the holder's « Mon activité » (delegated session)")
    commands.add_parser("close", help="end the delegated session")
    commands.add_parser("sign-out", help="end the mediator's session")
    return parser


class Output:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def done(self, message: str, data: Any = None) -> None:
        if self.as_json:
            print(json.dumps({"ok": True, "message": message, "data": data}, ensure_ascii=False))
        else:
            print(f"✔ {message}")
            if data is not None:
                print(json.dumps(data, indent=2, ensure_ascii=False))

    def refused(self, code: str, detail: str) -> None:
        if self.as_json:
            print(json.dumps({"ok": False, "code": code, "detail": detail}, ensure_ascii=False))
        else:
            print(f"✘ Refusé / refused: {code} — {detail}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    role = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    role.add_argument("--mediator", action="store_true")
    if role.parse_known_args(argv)[0].mediator:
        return mediator_main(argv)
    args = build_parser().parse_args(argv)
    out = Output(args.json)
    device = Device.load(args.device)
    if args.android:
        device.app = AppIdentity.android(*args.android)
    elif args.origin:
        device.app = AppIdentity.web(args.origin)
    sinks = Sinks()
    try:
        sinks.start(args)
        return _dispatch(args, out, device, sinks)
    except ApiProblem as problem:
        out.refused(problem.code, problem.detail)
        return 1
    except (
        AuthenticatorError,
        NoCodeReceived,
        BrowserError,
        scenarios.ScenarioError,
        ValueError,
    ) as error:
        out.refused(type(error).__name__, str(error))
        return 1
    finally:
        device.save(args.device)
        sinks.stop()


class Sinks:
    """The mail and SMS servers mobile-mock runs itself, when asked to."""

    def __init__(self) -> None:
        self.smtp: SmtpSink | None = None
        self.sms: SmsSink | None = None

    def start(self, args) -> None:
        if args.smtp_sink:
            host, _, port = args.smtp_sink.rpartition(":")
            self.smtp = SmtpSink(host or "127.0.0.1", int(port)).start()
        if args.sms_sink:
            host, _, port = args.sms_sink.rpartition(":")
            self.sms = SmsSink(host or "127.0.0.1", int(port), args.sms_api_key).start()

    def stop(self) -> None:
        for sink in (self.smtp, self.sms):
            if sink is not None:
                sink.stop()


def _app_for(args, device: Device, sinks: Sinks) -> MobileApp:
    transport = HttpTransport(args.base_url)
    mailbox: Mailbox = sinks.smtp or DevOutbox(transport)
    return MobileApp(
        transport=transport,
        device=device,
        email=args.email,
        phone=args.phone,
        trusted_email=args.trusted_email or None,
        mailbox=mailbox,
        sms_inbox=sinks.sms or DevSmsOutbox(transport),
    )


_RECEIVED = {
    "email": "reçu par courriel / emailed",
    "sms": "reçu par SMS / texted",
    "trusted_email": "transmis par la personne de confiance / from the trusted person",
}


def _code(args, fetch) -> str:
    if args.code:
        return args.code
    return input("Code reçu : ").strip() if args.ask_code else fetch()


def _patiently(action):
    """Do ``action``, waiting out a short code cooldown once, as a patient person would."""
    try:
        return action()
    except ApiProblem as problem:
        wait = int(problem.body.get("retry_after", 0))
        if problem.code != "rate_limited" or not 0 < wait <= scenarios.MAX_COOLDOWN_WAIT:
            raise
        print(f"Patientez {wait} s… / waiting {wait} s for the cooldown", file=sys.stderr)
        time.sleep(wait)
        return action()


def _new_password(args) -> str:
    if args.new_password:
        return args.new_password
    return getpass.getpass("Nouveau mot de passe : ")


def _dispatch(args, out: Output, device: Device, sinks: Sinks) -> int:
    app = _app_for(args, device, sinks)
    command = args.command
    if command == "sign-in":
        app.sign_in(args.nir, args.password)
        sent = app.send_code(args.channel)
        app.verify_code(_code(args, app.fetch_code))
        out.done(f"Connecté avec le code {_RECEIVED[sent['channel']]} / signed in.")
    elif command == "forgot-password":
        _patiently(lambda: app.forgot_password(args.nir, args.channel))
        code = _code(args, app.fetch_recovery_code)
        app.reset_password(code, _new_password(args))
        out.done(
            "Mot de passe changé ; toutes vos connexions sont fermées / password reset, every "
            "session ended."
        )
    elif command == "counter-recovery":
        app.counter_recovery(
            args.nir,
            args.code,
            _new_password(args),
            email=args.new_email,
            phone=args.new_phone,
        )
        out.done(
            "Mot de passe et coordonnées changés ; toutes vos connexions sont fermées / "
            "password and contacts reset, every session ended."
        )
    elif command == "disconnect-all":
        app.disconnect_all()
        out.done("Tous vos autres appareils sont déconnectés / every other session ended.")
    elif command == "not-me":
        app.not_me(args.id)
        out.done(
            "Signalé ; toutes vos autres connexions sont fermées / reported, every other "
            "session ended."
        )
    elif command == "contacts":
        out.done("Mes coordonnées / contacts", app.contacts())
    elif command == "add-contact":
        sent = app.add_contact(args.kind, args.value, args.name)
        if args.no_verify:
            out.done(f"Code envoyé à {sent['destination_hint']} / code sent.", sent)
            return 0
        code = _code(args, lambda: app.fetch_contact_code(args.kind, args.value))
        out.done("Coordonnée enregistrée / contact in force", app.verify_contact(args.kind, code))
    elif command == "verify-contact":
        out.done(
            "Coordonnée enregistrée / contact in force", app.verify_contact(args.kind, args.code)
        )
    elif command == "remove-contact":
        app.remove_contact(args.kind)
        out.done("Coordonnée retirée / contact removed.")
    elif command == "enable-biometrics":
        created = app.enable_biometrics(args.name, faults=args.fault)
        out.done(f"Connexion biométrique activée / biometrics enabled: {created['name']}", created)
    elif command == "bio-sign-in":
        app.sign_in_with_biometrics(args.nir, args.password, faults=args.fault)
        out.done("Connecté avec la biométrie / signed in with biometrics.")
    elif command == "passkey-sign-in":
        app.sign_in_with_passkey(faults=args.fault)
        out.done("Connecté avec la biométrie seule / signed in with the passkey alone.")
    elif command == "devices":
        out.done("Appareils / devices", app.authenticators())
    elif command == "rename":
        out.done("Appareil renommé / device renamed", app.rename(args.id, args.name))
    elif command == "remove":
        app.remove(args.id)
        out.done("Appareil retiré / device removed.")
    elif command == "mandates":
        out.done("Mes aidants / mandates", app.mandates())
    elif command == "grant-mandate":
        mandate = app.grant_mandate(args.code, args.scope or ["consult"], args.days)
        who = mandate["mediator"]
        out.done(
            f"Mandat donné à / mandate given to {who['name']} ({who['organisation']})", mandate
        )
    elif command == "revoke-mandate":
        app.revoke_mandate(args.id)
        out.done("Mandat retiré / mandate revoked.")
    elif command == "menu":
        out.done("Gérer mon compte", app.menu())
    elif command == "activity":
        out.done("Mon activité / activity", app.activity())
    elif command == "sign-out":
        logout_url = app.sign_out()
        if logout_url is None:
            out.done("Déconnecté / signed out.")
        else:
            out.done(
                "Déconnecté ; ouvrez cette adresse pour vous déconnecter aussi de FranceConnect "
                "/ signed out; open this URL to sign out at FranceConnect too",
                {"franceconnect_logout_url": logout_url},
            )
    elif command == "franceconnect-sign-in":
        try:
            app.franceconnect_sign_in(
                args.identity, acr=args.acr, return_to=args.return_to, cancel=args.cancel
            )
        except ApiProblem as problem:
            if problem.code == "link_required":
                problem.detail += (
                    " (mobile-mock sign-in, puis mobile-mock franceconnect-link "
                    "/ then sign in and link)"
                )
            raise
        out.done("Connecté avec FranceConnect / signed in with FranceConnect.")
    elif command == "franceconnect-link":
        linked = app.link_franceconnect()
        out.done("FranceConnect associé / linked", linked)
    elif command == "franceconnect-unlink":
        app.unlink_franceconnect()
        out.done("FranceConnect retiré / unlinked.")
    elif command == "change-password":
        app.change_password(args.new_password, args.current)
        out.done("Mot de passe changé / password changed.")
    elif command == "scenarios":
        out.done("Scénarios / scenarios", sorted(scenarios.shipped()))
    elif command == "run":
        return _run(args, out, device, sinks)
    return 0


def _run(args, out: Output, device: Device, sinks: Sinks) -> int:
    spec = scenarios.load(args.scenario)

    def make_app(name: str) -> MobileApp:
        # Every phone in a scenario is new, with this device's app identity, so a
        # scenario repeats the same way on every run.
        return _app_for(args, Device(app=AppIdentity(**vars(device.app))), sinks)

    def make_mediator_app(name: str) -> MediatorApp:
        return MediatorApp(transport=HttpTransport(args.base_url), device=Device())

    mediator = scenarios.MediatorLogin(args.mediator_email, args.mediator_password, args.totp_uri)
    result = scenarios.Runner(
        make_app,
        nir=args.nir,
        password=args.password,
        mediator=mediator,
        make_mediator_app=make_mediator_app,
        counter_code=args.counter_code,
    ).run(spec)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        for step in result.steps:
            mark = "✔" if step.ok else "✘"
            line = f"{mark} {step.index}. [{step.app}] {step.action}: {step.outcome}"
            if not step.ok:
                line += f" (attendu / expected: {' | '.join(step.expected)}) {step.detail}"
            print(line)
        verdict = "réussi / passed" if result.ok else "échoué / FAILED"
        print(f"Scénario {result.name}: {verdict}")
    return 0 if result.ok else 1


def mediator_main(argv: list[str]) -> int:
    """Run one command in the mediator's role."""
    args = build_mediator_parser().parse_args(argv)
    out = Output(args.json)
    device = Device.load(args.device)
    app = MediatorApp(transport=HttpTransport(args.base_url), device=device)
    try:
        return _mediator_dispatch(args, out, app)
    except ApiProblem as problem:
        out.refused(problem.code, problem.detail)
        return 1
    except ValueError as error:  # a malformed enrolment URI
        out.refused("invalid_totp_uri", str(error))
        return 1
    finally:
        device.save(args.device)


def _mediator_dispatch(args, out: Output, app: MediatorApp) -> int:
    command = args.command
    if command == "sign-in":
        signed_in = app.sign_in(args.email, args.password, totp_uri=args.totp_uri, code=args.code)
        if signed_in["password_change_required"] and args.new_password:
            app.change_password(args.password, args.new_password)
        elif signed_in["password_change_required"]:
            out.done(
                "Connecté ; choisissez maintenant votre mot de passe / signed in; now set "
                "your password: mobile-mock --mediator change-password --current … --new …"
            )
            return 0
        out.done("Aidant connecté / mediator signed in.")
    elif command == "change-password":
        app.change_password(args.current, args.new)
        out.done("Mot de passe changé / password changed.")
    elif command == "profile":
        out.done("Espace aidant / mediator", app.profile())
    elif command == "mandates":
        out.done("Mandats / mandates", app.mandates())
    elif command == "open":
        opened = app.open_mandate(args.mandate_id)
        out.done(
            f"Session ouverte pour {opened['expires_in'] // 60} min / delegated session opened."
        )
    elif command == "account":
        out.done("Compte de la personne / holder's account", app.holder_account())
    elif command == "activity":
        out.done("Activité de la personne / holder's activity", app.holder_activity())
    elif command == "close":
        app.close_session()
        out.done("Session fermée / delegated session closed.")
    elif command == "sign-out":
        app.sign_out()
        out.done("Aidant déconnecté / mediator signed out.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
