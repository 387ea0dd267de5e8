"""``flask maintenance purge``: expired state goes, live state stays."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from api.extensions import db
from api.models import (
    AuthSession,
    LoginTransaction,
    OneTimeCode,
    OutboxMail,
    RefreshToken,
    SecurityEvent,
    Throttle,
)
from tests.api.test_mail_delivery import RefusingSink
from tests.conftest import bearer


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_purge_removes_only_what_expired(app, auth, account, runner, clock, client):
    old = auth.sign_in(account)  # a session that will be signed out
    client.post("/api/v1/auth/logout", headers=bearer(old["access_token"]))
    auth.send_code(auth.start(account))  # an abandoned sign-in with its code
    auth.login(account, password="mauvais mot de passe")  # a throttle row

    clock.advance(hours=2)
    live = auth.sign_in(account)  # this one must survive
    result = runner.invoke(args=["maintenance", "purge"])
    assert result.exit_code == 0, result.output
    assert "login_transactions: 2 deleted" in result.output  # the two older sign-ins

    assert count(app, OneTimeCode) == 1  # the live sign-in's code
    assert count(app, LoginTransaction) == 1
    assert count(app, AuthSession) == 1
    assert client.get("/api/v1/account", headers=bearer(live["access_token"])).status_code == 200
    refreshed = client.post("/api/v1/auth/refresh", headers=bearer(live["refresh_token"]))
    assert refreshed.status_code == 200

    clock.advance(days=2)
    runner.invoke(args=["maintenance", "purge"])
    assert count(app, Throttle) == 0


def test_activity_is_kept_for_the_configured_period(app, auth, account, runner, clock):
    auth.login(account, password="mauvais mot de passe")
    events = count(app, SecurityEvent)
    clock.advance(days=364)
    runner.invoke(args=["maintenance", "purge"])
    assert count(app, SecurityEvent) == events
    clock.advance(days=2)
    runner.invoke(args=["maintenance", "purge"])
    assert count(app, SecurityEvent) == 0
    assert count(app, RefreshToken) == 0


def test_parked_mail_is_purged_after_the_keep_period(app, auth, account, smtp, runner, clock):
    smtp.stop()
    refusing = RefusingSink(port=smtp.port)
    refusing.start()
    try:
        auth.send_code(auth.start(account))  # refused for good: parked with its code inside
    finally:
        refusing.stop()
    with app.app_context():
        assert db.session.scalars(select(OutboxMail.status)).all() == ["failed"]

    clock.advance(days=29)
    runner.invoke(args=["maintenance", "purge"])
    assert count(app, OutboxMail) == 1  # still there for an operator to retry
    clock.advance(days=2)
    result = runner.invoke(args=["maintenance", "purge"])
    assert "outbox_mail: 1 deleted" in result.output
    assert count(app, OutboxMail) == 0


@pytest.mark.parametrize("app_settings", [{"MAIL_BACKEND": "outbox"}])
def test_outbox_mode_keeps_bodies_until_the_purge(app, auth, account, client, runner, clock):
    auth.send_code(auth.start(account))
    clock.advance(days=29)
    runner.invoke(args=["maintenance", "purge"])
    [item] = client.get(f"/api/v1/dev/outbox?to={account.email}").json["items"]
    assert "15 minutes" in item["text"]  # the dev outbox still shows the code
    clock.advance(days=2)
    runner.invoke(args=["maintenance", "purge"])
    assert client.get(f"/api/v1/dev/outbox?to={account.email}").json["items"] == []


def test_mediator_and_delegated_sessions_go_when_they_end_mandates_with_the_activity(
    app, auth, account, client, runner, clock, mediator, mediator_auth
):
    from api.models import DelegatedSession, Mandate, MediatorRefreshToken, MediatorSession

    holder = auth.sign_in(account)
    helper = mediator_auth.activate(mediator)
    opened = mediator_auth.act_for(holder["access_token"], mediator, helper["access_token"])
    assert opened.status_code == 200

    clock.advance(hours=1, minutes=30)  # the delegated session is over, not the working day
    runner.invoke(args=["maintenance", "purge"])
    assert count(app, DelegatedSession) == 1  # kept for an hour after it ended
    assert count(app, MediatorSession) == 1
    clock.advance(hours=12)
    result = runner.invoke(args=["maintenance", "purge"])
    assert "delegated_sessions: 1 deleted" in result.output
    assert "mediator_sessions: 1 deleted" in result.output
    assert count(app, MediatorRefreshToken) == 0
    assert count(app, Mandate) == 1  # ended or not, the holder still sees it in the list

    clock.advance(days=31 + 365)
    runner.invoke(args=["maintenance", "purge"])
    assert count(app, Mandate) == 0
