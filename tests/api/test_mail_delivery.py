"""The outbox: a mail-server outage loses nothing, and each message goes out once."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from api.extensions import db
from api.infra.outbox import MAIL
from api.models import OutboxMail
from tests.conftest import SmtpSink


def test_code_request_succeeds_while_smtp_is_down_and_mail_follows(
    app, auth, account, smtp, runner, clock
):
    smtp.stop()  # the mail server is down
    mfa = auth.start(account)
    assert auth.send_code(mfa).status_code == 202
    with app.app_context():
        [mail] = db.session.scalars(select(OutboxMail)).all()
        assert mail.status == "pending" and mail.attempts == 1 and mail.last_error

    # The server comes back on the same port; the worker retries after the backoff.
    revived = SmtpSink(port=smtp.port)
    revived.start()
    try:
        result = runner.invoke(args=["mail", "deliver"])
        assert result.exit_code == 0
        assert revived.messages == []  # not due yet: backoff
        clock.advance(seconds=31)
        result = runner.invoke(args=["mail", "deliver"])
        assert "1 message(s) sent." in result.output
        assert len(revived.to(account.email)) == 1
        # A second worker pass finds nothing left to send.
        runner.invoke(args=["mail", "deliver"])
        assert len(revived.to(account.email)) == 1
        assert auth.verify(mfa, revived.last_code(account.email)).status_code == 200
    finally:
        revived.stop()


def test_a_message_is_parked_after_too_many_failures(app, auth, account, smtp, runner, clock):
    app.extensions["settings"].MAIL_MAX_ATTEMPTS = 3
    smtp.stop()
    auth.send_code(auth.start(account))
    for _ in range(3):
        clock.advance(hours=1)
        runner.invoke(args=["mail", "deliver"])
    with app.app_context():
        mail = db.session.scalars(select(OutboxMail)).one()
        assert mail.status == "failed" and mail.attempts == 3


@pytest.mark.parametrize("app_settings", [{"MAIL_BACKEND": "outbox"}])
def test_outbox_backend_keeps_mail_in_the_database(app, auth, account, smtp, client):
    auth.send_code(auth.start(account))
    assert smtp.messages == []
    items = client.get(f"/api/v1/dev/outbox?to={account.email}").json["items"]
    assert len(items) == 1 and "15 minutes" in items[0]["text"]


class RefusingSink(SmtpSink):
    """An SMTP server that refuses every message with a permanent error."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 5.1.1 Mailbox unavailable"


def test_a_permanent_refusal_parks_at_once_and_can_be_retried(
    app, auth, account, smtp, runner, client
):
    smtp.stop()
    refusing = RefusingSink(port=smtp.port)
    refusing.start()
    try:
        auth.send_code(auth.start(account))
    finally:
        refusing.stop()
    with app.app_context():
        mail = db.session.scalars(select(OutboxMail)).one()
        assert mail.status == "failed" and mail.attempts == 1 and "550" in mail.last_error
    assert client.get("/readyz").json["mail_backlog"] == {"pending": 0, "parked": 1}

    listed = runner.invoke(args=["mail", "parked"])
    assert "1 parked message(s)." in listed.output
    assert account.email not in listed.output  # addresses are masked for operators too

    revived = SmtpSink(port=smtp.port)
    revived.start()
    try:
        assert "1 message(s) queued again." in runner.invoke(args=["mail", "retry"]).output
        assert "1 message(s) sent." in runner.invoke(args=["mail", "deliver"]).output
        assert len(revived.to(account.email)) == 1
    finally:
        revived.stop()


def test_backlog_is_reported_while_smtp_is_down(app, auth, account, smtp, client):
    smtp.stop()
    auth.send_code(auth.start(account))
    assert client.get("/readyz").json["mail_backlog"] == {"pending": 1, "parked": 0}


def mail_rows(app) -> list[OutboxMail]:
    with app.app_context():
        rows = db.session.scalars(select(OutboxMail).order_by(OutboxMail.created_at)).all()
        db.session.expunge_all()
        return rows


def test_a_delivered_message_keeps_no_body(app, auth, account, smtp, runner, clock):
    # Delivered by the pass that follows the request (a woken worker)...
    first = auth.start(account)
    assert auth.send_code(first).status_code == 202
    first_code = smtp.last_code(account.email)
    # ...and delivered by the worker after an outage.
    clock.advance(seconds=61)
    smtp.stop()
    second = auth.start(account)
    assert auth.send_code(second).status_code == 202
    revived = SmtpSink(port=smtp.port)
    revived.start()
    try:
        clock.advance(seconds=31)
        assert "1 message(s) sent." in runner.invoke(args=["mail", "deliver"]).output
        second_code = revived.last_code(account.email)
    finally:
        revived.stop()

    rows = mail_rows(app)
    assert [row.status for row in rows] == ["sent", "sent"]
    for row, code in zip(rows, (first_code, second_code), strict=True):
        # What was mailed is gone from the database; what operators need stays.
        assert row.text == "" and row.html == ""
        assert row.to == account.email and row.subject == "Votre code de connexion à Mon Compte"
        assert row.sent_at is not None and code not in row.text + row.html
    assert auth.verify(second, second_code).status_code == 200


class AmbiguousSink(SmtpSink):
    """Keeps each message, then answers as if it had not: a lost acknowledgement."""

    async def handle_DATA(self, server, session, envelope):
        await super().handle_DATA(server, session, envelope)
        return "451 4.3.0 Temporary failure, try again later"


def test_a_message_sent_again_has_the_same_message_id(app, auth, account, smtp, runner, clock):
    smtp.stop()
    ambiguous = AmbiguousSink(port=smtp.port)
    ambiguous.start()
    try:
        auth.send_code(auth.start(account))  # received, but the client was told 451
    finally:
        ambiguous.stop()
    revived = SmtpSink(port=smtp.port)
    revived.start()
    try:
        clock.advance(seconds=31)
        assert "1 message(s) sent." in runner.invoke(args=["mail", "deliver"]).output
    finally:
        revived.stop()
    [row] = mail_rows(app)
    [first] = ambiguous.to(account.email)
    [second] = revived.to(account.email)
    # The receiving side can tell it is the same message and drop the copy.
    assert first["Message-ID"] == second["Message-ID"] == f"<{row.id}@moncompte.caf>"


class WatchingSink(SmtpSink):
    """Notes, as each message arrives, how many database connections the app has out."""

    def __init__(self, engine, port: int) -> None:
        super().__init__(port=port)
        self.engine = engine
        self.connections_out: list[int] = []

    async def handle_DATA(self, server, session, envelope):
        self.connections_out.append(self.engine.pool.checkedout())
        return await super().handle_DATA(server, session, envelope)


def test_no_database_transaction_stays_open_while_talking_smtp(
    app, auth, account, smtp, runner, clock
):
    # An open transaction during SMTP would hold a pooled connection (and, on SQLite, the
    # write lock) for as long as the mail server takes: up to SMTP_TIMEOUT_SECONDS.
    with app.app_context():
        engine = db.engine
    smtp.stop()
    right_after = WatchingSink(engine, port=smtp.port)
    right_after.start()
    try:
        assert auth.send_code(auth.start(account)).status_code == 202  # sent by the woken worker
    finally:
        right_after.stop()
    clock.advance(seconds=61)
    assert auth.send_code(auth.start(account)).status_code == 202  # nobody listens: pending
    by_worker = WatchingSink(engine, port=smtp.port)
    by_worker.start()
    try:
        clock.advance(seconds=31)
        assert "1 message(s) sent." in runner.invoke(args=["mail", "deliver"]).output
    finally:
        by_worker.stop()
    assert right_after.connections_out == [0]
    assert by_worker.connections_out == [0]
    assert [row.status for row in mail_rows(app)] == ["sent", "sent"]


class DatabaseOutage:
    """While on, every statement on the app's engine fails as on a database that went away.

    The failure is the driver's own OperationalError, raised where the statement would
    reach the server, so SQLAlchemy and the service see what a real outage gives them.
    """

    def __init__(self, engine) -> None:
        self.engine = engine
        self.on = False
        event.listen(engine, "before_cursor_execute", self._statement)

    def _statement(self, conn, cursor, statement, parameters, context, executemany):
        if self.on:
            raise self.engine.dialect.loaded_dbapi.OperationalError("server closed the connection")

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._statement)


class SinkThatTakesTheDatabaseDown(SmtpSink):
    """Accepts the first message, and the database goes down before the sender records it."""

    def __init__(self, outage: DatabaseOutage, port: int) -> None:
        super().__init__(port=port)
        self.outage = outage

    async def handle_DATA(self, server, session, envelope):
        if not self.messages:
            self.outage.on = True
        return await super().handle_DATA(server, session, envelope)


def test_a_send_that_cannot_be_recorded_is_recorded_later_never_sent_again(
    app, auth, account, smtp, clock
):
    smtp.stop()
    mfa = auth.start(account)
    assert auth.send_code(mfa).status_code == 202  # nobody listens: pending
    with app.app_context():
        outage = DatabaseOutage(db.engine)
    sink = SinkThatTakesTheDatabaseDown(outage, port=smtp.port)
    sink.start()
    try:
        clock.advance(seconds=31)
        with app.app_context(), pytest.raises(OperationalError):
            MAIL.deliver_due()  # sent; then "sent" could not be written
        assert len(sink.to(account.email)) == 1
        clock.advance(minutes=10)  # the claim's lease is long over
        with app.app_context(), pytest.raises(OperationalError):
            MAIL.deliver_due()  # still down
        outage.on = False
        with app.app_context():
            # The earlier send is recorded before anything is claimed: nothing to resend.
            assert MAIL.deliver_due() == 0
            assert MAIL.deliver_due() == 0
    finally:
        sink.stop()
        outage.close()
    assert len(sink.to(account.email)) == 1
    [row] = mail_rows(app)
    assert row.status == "sent" and row.text == "" and row.sent_at is not None
    assert auth.verify(mfa, sink.last_code(account.email)).status_code == 200


def test_the_deliver_command_waits_for_the_database_to_record_what_it_sent(
    app, auth, account, smtp, runner, clock, caplog
):
    smtp.stop()
    mfa = auth.start(account)
    assert auth.send_code(mfa).status_code == 202  # nobody listens: pending
    with app.app_context():
        outage = DatabaseOutage(db.engine)

    class ShortOutage(SinkThatTakesTheDatabaseDown):
        async def handle_DATA(self, server, session, envelope):
            threading.Timer(0.5, setattr, (outage, "on", False)).start()
            return await super().handle_DATA(server, session, envelope)

    sink = ShortOutage(outage, port=smtp.port)
    sink.start()
    try:
        clock.advance(seconds=31)
        result = runner.invoke(args=["mail", "deliver", "--interval", "0.1"])
    finally:
        sink.stop()
        outage.close()
    assert result.exit_code == 0, result.output
    assert len(sink.to(account.email)) == 1
    [row] = mail_rows(app)
    assert row.status == "sent" and row.text == ""
    failures = [r for r in caplog.records if r.getMessage() == "mail worker pass failed"]
    assert failures and failures[0].unrecorded == 1
    assert failures[0].error == "OperationalError (OperationalError)"
    code = sink.last_code(account.email)
    for record in caplog.records:
        logged = str(vars(record))
        assert code not in logged and account.email not in logged
    assert auth.verify(mfa, code).status_code == 200
