"""SMS delivery through a real local provider: each message sent once, nothing lost.

The provider is a real HTTP server on loopback (``SmsProvider`` in tests/conftest.py);
``requests`` talks to it over TCP as it would to the real API.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from api.extensions import db
from api.infra import sms
from api.infra.outbox import SMS
from api.models import OutboxSms
from api.uow import unit_of_work
from tests.conftest import SmsProvider, _free_port

NUMBER = "+33612345678"
TEXT = "Caf : votre code est 123456, valable 15 minutes."


def queue(app, to: str = NUMBER, text: str = TEXT) -> str:
    with app.app_context(), unit_of_work():
        return sms.queue(to, text).id


def rows(app) -> list[OutboxSms]:
    with app.app_context():
        found = db.session.scalars(select(OutboxSms).order_by(OutboxSms.created_at)).all()
        db.session.expunge_all()
        return found


def deliver(runner) -> str:
    result = runner.invoke(args=["sms", "deliver"])
    assert result.exit_code == 0, result.output
    return result.output


def test_an_sms_goes_to_the_provider_once_and_its_text_is_cleared(app, runner, sms_provider):
    row_id = queue(app)
    assert "1 message(s) sent." in deliver(runner)
    assert deliver(runner) == ""  # nothing left: a second pass sends nothing

    [sent] = sms_provider.messages
    assert sent == {
        "sender": "Caf",
        "recipient": "33612345678",
        "content": TEXT,
        "type": "transactional",
        "tag": row_id,
    }
    [row] = rows(app)
    # What was sent (a code) is gone from the database; what operators need stays.
    assert (row.status, row.text, row.attempts, row.last_error) == ("sent", "", 1, None)
    assert row.sent_at is not None and row.provider_message_id == "1001"
    assert row.to == NUMBER


def test_two_workers_send_each_message_once(app, sms_provider):
    ids = {queue(app, to=f"+336{n:08d}", text=f"message {n}") for n in range(24)}
    sms_provider.delay = 0.02  # a provider that takes its time lets the workers overlap
    sent_by: dict[str, int] = {}
    start = threading.Barrier(2)

    def work(name: str) -> None:
        start.wait()
        with app.app_context():
            total = 0
            # No failure here: a pass that sends nothing means every message is claimed.
            while sent := SMS.deliver_due(limit=3):
                total += sent
            sent_by[name] = total

    workers = [threading.Thread(target=work, args=(name,)) for name in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert sorted(m["tag"] for m in sms_provider.seen) == sorted(ids)  # each once
    assert sum(sent_by.values()) == 24 and all(sent_by.values()), sent_by
    assert {row.status for row in rows(app)} == {"sent"}


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_a_provider_error_is_retried_with_growing_delays(app, runner, sms_provider, clock, status):
    queue(app)
    sms_provider.answer_next((status, {"code": "busy"}), (status, {"code": "busy"}))
    deliver(runner)
    [row] = rows(app)
    assert (row.status, row.attempts, row.text) == ("pending", 1, TEXT)
    assert row.last_error.startswith(f"TemporaryFailure: HTTP {status}")
    first_due = row.next_attempt_at

    clock.advance(seconds=29)
    assert deliver(runner) == ""  # not due yet: backoff (SMS_RETRY_BASE_SECONDS = 30)
    clock.advance(seconds=2)
    deliver(runner)  # second failure: the delay doubles
    [row] = rows(app)
    assert row.attempts == 2 and (row.next_attempt_at - first_due).total_seconds() >= 60

    clock.advance(seconds=61)
    assert "1 message(s) sent." in deliver(runner)
    assert len(sms_provider.to(NUMBER)) == 1 and len(sms_provider.seen) == 3
    assert rows(app)[0].status == "sent"


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_a_provider_refusal_parks_the_message_until_an_operator_retries_it(
    app, runner, client, sms_provider, status
):
    queue(app)
    refusal = {"code": "invalid_parameter", "message": "Invalid recipient 33612345678"}
    sms_provider.answer_next((status, refusal))
    deliver(runner)
    [row] = rows(app)
    assert (row.status, row.attempts) == ("failed", 1)
    assert f"HTTP {status} invalid_parameter" in row.last_error
    assert "12345678" not in row.last_error  # the number is masked for operators
    assert client.get("/readyz").json["sms_backlog"] == {"pending": 0, "parked": 1}

    listed = runner.invoke(args=["sms", "parked"])
    assert "1 parked message(s)." in listed.output and "••••••••••78" in listed.output
    assert "12345678" not in listed.output and TEXT not in listed.output
    assert "1 message(s) queued again." in runner.invoke(args=["sms", "retry"]).output
    assert "1 message(s) sent." in deliver(runner)
    assert len(sms_provider.to(NUMBER)) == 1
    assert client.get("/readyz").json["sms_backlog"] == {"pending": 0, "parked": 0}


def test_a_message_is_parked_after_too_many_failures(app, runner, sms_provider, clock):
    app.extensions["settings"].SMS_MAX_ATTEMPTS = 3
    queue(app)
    sms_provider.answer_next(*[(503, {})] * 3)
    for _ in range(3):
        deliver(runner)
        clock.advance(hours=1)
    [row] = rows(app)
    assert (row.status, row.attempts) == ("failed", 3)
    assert sms_provider.messages == []


def test_nothing_is_lost_or_sent_twice_while_the_provider_is_down(app, runner, clock):
    port = _free_port()  # nothing listens there: the provider is down
    app.extensions["settings"].SMS_API_URL = f"http://127.0.0.1:{port}"
    first = queue(app, text="premier")
    deliver(runner)
    clock.advance(seconds=10)
    second = queue(app, text="second")
    deliver(runner)
    assert [(r.status, r.attempts) for r in rows(app)] == [("pending", 1)] * 2
    assert rows(app)[0].last_error.startswith("ConnectionError")

    provider = SmsProvider(port=port)
    provider.start()
    try:
        clock.advance(seconds=31)
        assert "2 message(s) sent." in deliver(runner)
        clock.advance(hours=2)
        assert deliver(runner) == ""
    finally:
        provider.stop()
    assert [m["tag"] for m in provider.seen] == [first, second]
    assert [m["content"] for m in provider.messages] == ["premier", "second"]
    assert {(r.status, r.text) for r in rows(app)} == {("sent", "")}


def test_the_timeout_is_honoured_and_a_late_answer_is_retried(app, runner, clock):
    provider = SmsProvider()
    provider.start()
    provider.delay = 5.0
    settings = app.extensions["settings"]
    settings.SMS_API_URL, settings.SMS_TIMEOUT_SECONDS = provider.url, 1
    try:
        queue(app)
        began = time.monotonic()
        deliver(runner)
        elapsed = time.monotonic() - began
        [row] = rows(app)
        assert (row.status, row.attempts) == ("pending", 1), row.last_error
        assert row.last_error.startswith("ReadTimeout")
        assert elapsed < provider.delay  # we did not wait for the answer
    finally:
        provider.stop()


def test_a_slow_answer_within_the_timeout_is_a_success(app, runner, sms_provider):
    app.extensions["settings"].SMS_TIMEOUT_SECONDS = 10
    sms_provider.delay = 1.0
    queue(app)
    assert "1 message(s) sent." in deliver(runner)
    assert rows(app)[0].status == "sent"


def test_no_database_connection_is_held_while_the_provider_answers(app, runner, sms_provider):
    # An open transaction during the request would hold a pooled connection (and, on
    # SQLite, the write lock) for as long as the provider takes: up to the timeout.
    with app.app_context():
        engine = db.engine
    connections_out: list[int] = []
    sms_provider.on_request = lambda request: connections_out.append(engine.pool.checkedout())
    queue(app)
    assert "1 message(s) sent." in deliver(runner)
    assert connections_out == [0]


def test_the_key_goes_in_a_header_and_a_wrong_key_parks(app, runner, sms_provider):
    app.extensions["settings"].SMS_API_KEY = "not-the-key"
    queue(app)
    deliver(runner)
    [row] = rows(app)
    assert row.status == "failed" and "HTTP 401 unauthorized" in row.last_error
    assert "not-the-key" not in row.last_error


@pytest.mark.parametrize("app_settings", [{"SMS_BACKEND": "outbox"}])
def test_deliver_refuses_to_run_with_the_outbox_backend(runner):
    result = runner.invoke(args=["sms", "deliver"])
    assert result.exit_code != 0 and "SMS_BACKEND is not 'http'" in result.output


def test_workers_are_notified_when_the_transaction_commits_and_only_then(app, postgres_url):
    if not postgres_url:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's (SQLite workers poll)")
    from api.infra.outbox.worker import Wakeup

    with app.app_context():
        wakeup = Wakeup("sms", db.engine.url)
    assert wakeup.listen()
    try:
        with app.app_context(), pytest.raises(RuntimeError), unit_of_work():
            sms.queue(NUMBER, TEXT)
            raise RuntimeError("the flow failed: nothing was sent, nobody is woken")
        began = time.monotonic()
        wakeup.wait(1.0)
        assert time.monotonic() - began >= 0.9  # not woken

        with app.app_context(), unit_of_work():
            sms.queue(NUMBER, TEXT)
        began = time.monotonic()
        wakeup.wait(30.0)
        assert time.monotonic() - began < 10  # woken by the commit, not by the timeout
    finally:
        wakeup.close()
