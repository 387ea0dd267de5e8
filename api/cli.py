"""Operator commands: ``flask --app wsgi accounts|mediators|mail|sms|maintenance|webauthn|demo``."""

from __future__ import annotations

import base64
import csv
import json
import logging
import sys
from collections.abc import Callable

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from flask_migrate import upgrade
from werkzeug.serving import run_simple

from .config import exposure_warning, settings
from .errors import ApiError
from .infra import totp
from .infra.outbox import MAIL, SMS, Outbox, worker
from .services import accounts, counter_recovery, helpdesk, housekeeping, mediators
from .uow import unit_of_work

log = logging.getLogger(__name__)

DEMO_NIR = "1850575123456"
DEMO_EMAIL = "demo@moncompte.example"
DEMO_PHONE = "+33612345678"  # the contract's example; SMS stay in the dev outbox
DEMO_PASSWORD = "Bienvenue à la Caf 2026"  # noqa: S105 (public demo account)
# The demo mediator: fixed secrets, so that `mobile-mock run accompagnement-france-services`
# works against the demo server as it is. Development only, like the demo account.
DEMO_MEDIATOR = {
    "email": "aidant@moncompte.example",
    "name": "Camille Martin",
    "organisation": "France Services de Montreuil",
    "password": "Aidant France Services 2026",
    "totp_secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    "code": "K7QM4TXA",
}

accounts_cli = AppGroup(
    "accounts", help="Create, import, disable accounts; helpdesk: show, unlock, recovery-code."
)
mediators_cli = AppGroup("mediators", help="Create, list and disable mediators (aidants).")
webauthn_cli = AppGroup("webauthn", help="WebAuthn relying-party helpers.")
maintenance_cli = AppGroup("maintenance", help="Housekeeping jobs.")


def _fail(error: ApiError) -> None:
    details = getattr(error, "extra", {}).get("errors") or {}
    lines = [error.detail] + [f"  {field}: {' '.join(msgs)}" for field, msgs in details.items()]
    raise click.ClickException("\n".join(lines))


@accounts_cli.command("create")
@click.option("--nir", required=True, help="The 13 first characters of the NIR.")
@click.option("--email", help="The holder's address (codes by email).")
@click.option("--phone", help="The holder's French mobile, e.g. 0612345678 (codes by SMS).")
@click.option("--password", required=True, prompt=True, hide_input=True, confirmation_prompt=True)
def create_account(nir: str, email: str | None, phone: str | None, password: str) -> None:
    """Create one account, with an address, a mobile or both."""
    try:
        with unit_of_work():
            account = accounts.create_account(nir, email, password, phone=phone)
    except ApiError as error:
        _fail(error)
    click.echo(f"Account {account.id} created ({account.nir_masked}).")


@accounts_cli.command("import")
@click.argument("csv_file", type=click.File("r", encoding="utf-8"))
def import_accounts(csv_file) -> None:
    """Create accounts from a CSV file with the columns nir,email,phone,password.

    ``email`` or ``phone`` may be empty (not both); the ``phone`` column may be left out.
    """
    created = failed = 0
    for line, row in enumerate(csv.DictReader(csv_file), start=2):
        try:
            with unit_of_work():  # one row, one transaction: a refused row leaves no trace
                accounts.create_account(
                    row.get("nir") or "",
                    row.get("email"),
                    row.get("password") or "",
                    phone=row.get("phone"),
                )
            created += 1
        except ApiError as error:
            failed += 1
            # Never echo the row: it holds a NIR and a password.
            click.echo(f"line {line}: {error.detail}", err=True)
    click.echo(f"{created} created, {failed} refused.")
    if failed:
        sys.exit(1)


@accounts_cli.command("disable")
@click.option("--nir", required=True)
@click.option("--enable", is_flag=True, help="Re-enable instead.")
def disable_account(nir: str, enable: bool) -> None:
    """Disable an account (its sessions end at once), or re-enable it."""
    with unit_of_work():
        account = accounts.set_disabled(nir, disabled=not enable)
    if account is None:
        raise click.ClickException("No account for this NIR.")
    click.echo(f"Account {account.id} {'enabled' if enable else 'disabled'}.")


@accounts_cli.command("recovery-code")
@click.option("--nir", required=True, help="The holder's NIR (13 characters).")
@click.option("--agent", required=True, help="Your agent id, e.g. AG123 (kept in the audit).")
@click.option("--reason", required=True, help="Why, e.g. « téléphone et boîte mail perdus ».")
@click.option(
    "--valid-hours",
    default=counter_recovery.DEFAULT_VALID_HOURS,
    show_default=True,
    type=int,
    help="How long the code stays valid (1 to 168).",
)
def recovery_code(nir: str, agent: str, reason: str, valid_hours: int) -> None:
    """Print a one-time recovery code for a holder whose identity you have checked.

    The holder types it in « Mot de passe oublié » > « J'ai un code remis au guichet ».
    Issuing a new code voids the previous one. The code is shown once: it is stored hashed.
    """
    try:
        with unit_of_work():
            issued = counter_recovery.issue(nir, agent, reason, valid_hours)
    except ApiError as error:
        _fail(error)
    click.echo(issued.code)
    click.echo(
        f"One-time code for {issued.nir_masked}, valid until "
        f"{issued.expires_at:%Y-%m-%d %H:%M} UTC. Hand it to the holder only; it is shown once.",
        err=True,
    )


@accounts_cli.command("show")
@click.option("--nir", required=True)
@click.option(
    "--agent", help="Your agent id: the consultation is recorded in the holder's activity."
)
def show_account(nir: str, agent: str | None) -> None:
    """Show an account for the helpdesk: masked contacts, devices, locks, last 20 events."""
    try:
        with unit_of_work():
            report = helpdesk.show(nir, agent)
    except ApiError as error:
        _fail(error)
    for line in report.lines:
        click.echo(line)


@accounts_cli.command("unlock")
@click.option("--nir", required=True)
@click.option("--agent", required=True, help="Your agent id, e.g. AG123 (kept in the audit).")
def unlock_account(nir: str, agent: str) -> None:
    """Lift every lock of an account: sign-in, second factor, password change, recovery."""
    try:
        with unit_of_work():
            account = helpdesk.unlock(nir, agent)
    except ApiError as error:
        _fail(error)
    click.echo(f"Account {account.nir_masked} unlocked.")


@mediators_cli.command("create")
@click.option("--email", required=True, help="The mediator's work address (their sign-in).")
@click.option("--name", required=True, help="As holders will see it, e.g. « Camille Martin ».")
@click.option("--organisation", required=True, help="e.g. « France Services de Montreuil ».")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def create_mediator(email: str, name: str, organisation: str, as_json: bool) -> None:
    """Create a mediator; print their TOTP enrolment URI, code and initial password, once.

    Nothing printed here can be shown again: the password is stored hashed and the TOTP
    secret sealed. Hand them to the mediator in person.
    """
    try:
        with unit_of_work():
            enrolment = mediators.create_mediator(email, name, organisation)
    except ApiError as error:
        _fail(error)
    printed = {
        "totp_uri": enrolment.totp_uri,
        "mediator_code": enrolment.mediator_code,
        "password": enrolment.password,
    }
    if as_json:
        click.echo(json.dumps(printed))
    else:
        for key, value in printed.items():
            click.echo(f"{key}: {value}")
    click.echo(
        "Shown once: scan the URI into an authenticator app; the password must be "
        "changed at first sign-in.",
        err=True,
    )


@mediators_cli.command("disable")
@click.option("--email", required=True)
def disable_mediator(email: str) -> None:
    """Disable a mediator: their sessions, delegated sessions and mandates end at once."""
    with unit_of_work():
        outcome = mediators.disable(email)
    if outcome is None:
        raise click.ClickException("No mediator with this email.")
    mediator, ended_sessions, ended_mandates = outcome
    click.echo(
        f"Mediator {mediator.code} disabled: {ended_sessions} session(s) and "
        f"{ended_mandates} mandate(s) ended."
    )


@mediators_cli.command("list")
def list_mediators() -> None:
    """List mediators: code, email, name, organisation, state, mandates in force."""
    with unit_of_work():
        listed = mediators.listing()
    for item in listed:
        mediator = item.mediator
        if mediator.disabled_at is not None:
            state = "disabled"
        elif mediator.must_change_password:
            state = "initial password not changed yet"
        else:
            state = "active"
        click.echo(
            f"{mediator.code}  {mediator.email}  {mediator.name} — {mediator.organisation}  "
            f"[{state}]  {item.mandates_in_force} mandate(s) in force"
        )
    click.echo(f"{len(listed)} mediator(s).")


@click.command("demo")
@with_appcontext
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--no-serve", is_flag=True, help="Prepare the database and demo account only.")
def demo(host: str, port: int, no_serve: bool) -> None:
    """Migrate the database, create the demo account, print it and serve the API."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if settings().APP_ENV == "production":
        raise click.ClickException("The demo account is not for production.")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    upgrade(directory=app.extensions["migrate"].directory)
    if accounts.find_by_nir(DEMO_NIR) is None:
        with unit_of_work():
            accounts.create_account(DEMO_NIR, DEMO_EMAIL, DEMO_PASSWORD, phone=DEMO_PHONE)
    if mediators.find_by_email(DEMO_MEDIATOR["email"]) is None:
        with unit_of_work():
            mediators.create_mediator(**DEMO_MEDIATOR, must_change_password=False)
    demo_totp = totp.enrolment_uri(DEMO_MEDIATOR["totp_secret"], DEMO_MEDIATOR["email"])
    click.echo(
        "\nMon Compte is ready.\n"
        f"  API:       http://localhost:{port}/api/v1\n"
        f"  OpenAPI:   http://localhost:{port}/api/v1/openapi.json\n"
        f"  NIR:       {DEMO_NIR}\n"
        f"  Password:  {DEMO_PASSWORD}\n"
        f"  Email:     {DEMO_EMAIL} (codes: "
        f"http://localhost:{port}/api/v1/dev/outbox?to={DEMO_EMAIL})\n"
        f"  Mobile:    {DEMO_PHONE} (SMS: "
        f"http://localhost:{port}/api/v1/dev/sms?to={DEMO_PHONE.replace('+', '%2B')})\n"
        f"  Mediator:  http://localhost:{port}/aidant — {DEMO_MEDIATOR['email']}, "
        f"password {DEMO_MEDIATOR['password']}, code {DEMO_MEDIATOR['code']}\n"
        f"             TOTP: {demo_totp}\n"
    )
    # The server only writes messages to the outboxes: with a real backend, a worker sends.
    for name, sends in (
        ("mail", settings().MAIL_BACKEND == "smtp"),
        ("sms", settings().SMS_BACKEND == "http"),
    ):
        if sends:
            click.echo(f"  Run `flask --app wsgi {name} deliver --loop` too: it sends the {name}.")
    if not no_serve:
        warning = exposure_warning(settings().APP_ENV, settings().MAIL_BACKEND, [host])
        if warning:
            log.warning("development server reachable beyond loopback", extra={"host": host})
            click.secho(f"\n{warning}\n", err=True, fg="red", bold=True)
        # The development server, threaded: enough to try the service by hand.
        run_simple(host, port, app, threaded=True)


def _outbox_cli(outbox: Outbox, backend: Callable[[], bool], stays: str) -> AppGroup:
    """Build the operator commands of one outbox: deliver, parked, retry."""
    group = AppGroup(outbox.name, help=f"Deliver the {outbox.name} outbox.")

    @group.command("deliver")
    @click.option("--loop", is_flag=True, help="Keep delivering until interrupted.")
    @click.option(
        "--interval",
        type=float,
        default=None,
        help="Seconds between passes when nothing wakes the worker "
        f"(default {worker.LISTEN_POLL_SECONDS:g} on PostgreSQL, where a new message wakes it "
        f"at once, {worker.POLL_SECONDS:g} elsewhere).",
    )
    @click.option(
        "--max-backoff",
        default=60.0,
        show_default=True,
        help="Longest wait between passes while the database (or anything else) keeps failing.",
    )
    def deliver(loop: bool, interval: float | None, max_backoff: float) -> None:
        """Send due messages of the outbox, retrying failures with backoff.

        A failing pass (the database is away, say) is logged and retried after a growing
        pause; with --loop the worker never gives up. A single pass gives up at once unless
        it has handed messages over without recording them: it then keeps trying to record
        them for a while, since a message left unrecorded may be sent again.
        """
        if not backend():
            raise click.ClickException(stays)
        try:
            worker.run(
                outbox,
                loop=loop,
                interval=interval,
                max_backoff=max_backoff,
                report=lambda sent: click.echo(f"{sent} message(s) sent."),
            )
        except worker.WorkerGaveUp as exc:
            raise click.ClickException(str(exc)) from None

    @group.command("parked")
    def list_parked() -> None:
        """List messages parked after a refusal or too many failed deliveries."""
        rows = outbox.parked()
        for row in rows:
            click.echo(
                f"{row.id}  {row.created_at:%Y-%m-%d %H:%M}  {outbox.transport.mask(row.to)}  "
                f"{getattr(row, 'subject', '')}  [{row.attempts} attempts: {row.last_error}]"
            )
        click.echo(f"{len(rows)} parked message(s).")

    @group.command("retry")
    @click.option("--id", "row_id", help="One message; all parked messages when omitted.")
    def retry_parked(row_id: str | None) -> None:
        """Put parked messages back in the queue."""
        click.echo(f"{outbox.retry_parked(row_id)} message(s) queued again.")

    return group


mail_cli = _outbox_cli(
    MAIL,
    lambda: settings().MAIL_BACKEND == "smtp",
    "MAIL_BACKEND is not 'smtp': mail stays in the outbox.",
)
sms_cli = _outbox_cli(
    SMS,
    lambda: settings().SMS_BACKEND == "http",
    "SMS_BACKEND is not 'http': text messages stay in the outbox.",
)


@maintenance_cli.command("purge")
def purge() -> None:
    """Delete expired sign-ins, codes, challenges, sessions, old mail and old activity."""
    with unit_of_work():
        counts = housekeeping.purge()
    for table, count in counts.items():
        click.echo(f"{table}: {count} deleted")


@webauthn_cli.command("android-origin")
@click.argument("fingerprint")
def android_origin(fingerprint: str) -> None:
    """Print the WebAuthn origin of an Android app from its SHA-256 signing-cert fingerprint.

    FINGERPRINT is what `keytool -list -v` or the Play Console shows ("AB:CD:…").
    """
    try:
        digest = bytes.fromhex(fingerprint.replace(":", "").strip())
    except ValueError:
        raise click.ClickException("Not a hexadecimal fingerprint.") from None
    if len(digest) != 32:
        raise click.ClickException("A SHA-256 fingerprint has 32 bytes.")
    encoded = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    click.echo(f"android:apk-key-hash:{encoded}")


def register_cli(app: Flask) -> None:
    app.cli.add_command(accounts_cli)
    app.cli.add_command(mediators_cli)
    app.cli.add_command(mail_cli)
    app.cli.add_command(sms_cli)
    app.cli.add_command(webauthn_cli)
    app.cli.add_command(maintenance_cli)
    app.cli.add_command(demo)
