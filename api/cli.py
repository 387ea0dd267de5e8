"""Operator commands: ``flask --app wsgi accounts|mediators|mail|demo ...``."""

from __future__ import annotations

import base64
import csv
import json
import logging
import sys
import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from flask_migrate import upgrade
from werkzeug.serving import run_simple

from .config import exposure_warning, settings
from .errors import ApiError
from .infra import mailer, totp
from .nir import mask_email
from .services import accounts, housekeeping, mediators
from .uow import unit_of_work

log = logging.getLogger(__name__)

DEMO_NIR = "1850575123456"
DEMO_EMAIL = "demo@moncompte.example"
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

accounts_cli = AppGroup("accounts", help="Create, import and disable accounts.")
mediators_cli = AppGroup("mediators", help="Create, list and disable mediators (aidants).")
mail_cli = AppGroup("mail", help="Deliver the mail outbox.")
webauthn_cli = AppGroup("webauthn", help="WebAuthn relying-party helpers.")
maintenance_cli = AppGroup("maintenance", help="Housekeeping jobs.")


def _fail(error: ApiError) -> None:
    details = getattr(error, "extra", {}).get("errors") or {}
    lines = [error.detail] + [f"  {field}: {' '.join(msgs)}" for field, msgs in details.items()]
    raise click.ClickException("\n".join(lines))


@accounts_cli.command("create")
@click.option("--nir", required=True, help="The 13 first characters of the NIR.")
@click.option("--email", required=True)
@click.option("--password", required=True, prompt=True, hide_input=True, confirmation_prompt=True)
def create_account(nir: str, email: str, password: str) -> None:
    """Create one account."""
    try:
        with unit_of_work():
            account = accounts.create_account(nir, email, password)
    except ApiError as error:
        _fail(error)
    click.echo(f"Account {account.id} created ({account.nir_masked}).")


@accounts_cli.command("import")
@click.argument("csv_file", type=click.File("r", encoding="utf-8"))
def import_accounts(csv_file) -> None:
    """Create accounts from a CSV file with the columns nir,email,password."""
    created = failed = 0
    for line, row in enumerate(csv.DictReader(csv_file), start=2):
        try:
            with unit_of_work():  # one row, one transaction: a refused row leaves no trace
                accounts.create_account(
                    row.get("nir", ""), row.get("email", ""), row.get("password", "")
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


@mail_cli.command("deliver")
@click.option("--loop", is_flag=True, help="Keep delivering until interrupted.")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between passes.")
@click.option(
    "--max-backoff",
    default=60.0,
    show_default=True,
    help="Longest wait between passes while the database (or anything else) keeps failing.",
)
def deliver_mail(loop: bool, interval: float, max_backoff: float) -> None:
    """Send due messages of the outbox, retrying failures with backoff.

    A failing pass (the database is away, say) is logged and retried after a growing
    pause; with --loop the worker never gives up. A single pass gives up at once unless it
    has handed messages to the mail server without recording them: it then keeps trying
    to record them for a while, since a message left unrecorded may be sent again.
    """
    if settings().MAIL_BACKEND != "smtp":
        raise click.ClickException("MAIL_BACKEND is not 'smtp': mail stays in the outbox.")
    failures = 0
    give_up_at = time.monotonic() + mailer.CLAIM_LEASE.total_seconds() / 2
    while True:
        try:
            sent = mailer.deliver_due()
        except Exception as exc:  # the worker outlives any one pass
            mailer.reset_session()
            failures += 1
            unrecorded = mailer.unrecorded_count()
            delay = min(interval * 2 ** (failures - 1), max_backoff)
            # The error's class only: its text may quote SQL parameters.
            log.warning(
                "mail worker pass failed",
                extra={
                    "error": mailer.describe_error(exc),
                    "failures": failures,
                    "unrecorded": unrecorded,
                    "retry_in_s": round(delay, 2),
                },
            )
            if not loop and (not unrecorded or time.monotonic() > give_up_at):
                message = f"Delivery pass failed ({mailer.describe_error(exc)})."
                if unrecorded:
                    message += f" {unrecorded} sent message(s) could not be recorded as sent."
                raise click.ClickException(message) from None
            time.sleep(delay)
            continue
        if failures:
            log.info("mail worker recovered", extra={"failures": failures})
            failures = 0
        if sent:
            click.echo(f"{sent} message(s) sent.")
        if not loop:
            return
        time.sleep(interval)


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
            accounts.create_account(DEMO_NIR, DEMO_EMAIL, DEMO_PASSWORD)
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
        f"  Mediator:  http://localhost:{port}/aidant — {DEMO_MEDIATOR['email']}, "
        f"password {DEMO_MEDIATOR['password']}, code {DEMO_MEDIATOR['code']}\n"
        f"             TOTP: {demo_totp}\n"
    )
    if not no_serve:
        warning = exposure_warning(settings().APP_ENV, settings().MAIL_BACKEND, [host])
        if warning:
            log.warning("development server reachable beyond loopback", extra={"host": host})
            click.secho(f"\n{warning}\n", err=True, fg="red", bold=True)
        # The development server, threaded: enough to try the service by hand.
        run_simple(host, port, app, threaded=True)


@mail_cli.command("parked")
def list_parked_mail() -> None:
    """List messages parked after too many failed deliveries."""
    rows = mailer.parked()
    for mail in rows:
        click.echo(
            f"{mail.id}  {mail.created_at:%Y-%m-%d %H:%M}  {mask_email(mail.to)}  "
            f"{mail.subject}  [{mail.attempts} attempts: {mail.last_error}]"
        )
    click.echo(f"{len(rows)} parked message(s).")


@mail_cli.command("retry")
@click.option("--id", "mail_id", help="One message; all parked messages when omitted.")
def retry_parked_mail(mail_id: str | None) -> None:
    """Put parked messages back in the queue."""
    click.echo(f"{mailer.retry_parked(mail_id)} message(s) queued again.")


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
    app.cli.add_command(webauthn_cli)
    app.cli.add_command(maintenance_cli)
    app.cli.add_command(demo)
