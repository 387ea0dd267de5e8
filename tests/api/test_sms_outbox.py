"""The SMS outbox: rows written in the request's transaction, readable in development only."""

from __future__ import annotations

import pytest

from api import create_app
from api.extensions import db
from api.infra import sms
from api.models import OutboxSms
from api.uow import unit_of_work
from tests.api.test_http import assert_problem
from tests.conftest import make_settings

NUMBER = "+33612345678"


def _queue(app, to: str, text: str) -> None:
    with app.app_context(), unit_of_work():
        sms.queue(to, text)


@pytest.mark.parametrize("app_settings", [{"SMS_BACKEND": "outbox"}])
def test_dev_sms_outbox_shows_the_newest_first(app, client, clock):
    _queue(app, NUMBER, "Premier message")
    clock.advance(seconds=5)
    _queue(app, NUMBER, "Second message")
    _queue(app, "+33698765432", "Pour un autre numéro")

    # The contract writes the "+" unencoded; it arrives as a space and still counts.
    for query in (f"to={NUMBER}", "to=%2B33612345678"):
        items = client.get(f"/api/v1/dev/sms?{query}").json["items"]
        assert [item["text"] for item in items] == ["Second message", "Premier message"]
        assert set(items[0]) == {"to", "text", "created_at"}
        assert items[0]["to"] == NUMBER
    assert "/api/v1/dev/sms" in client.get("/api/v1/openapi.json").json["paths"]


@pytest.mark.parametrize("app_settings", [{"SMS_BACKEND": "outbox"}])
@pytest.mark.parametrize("to", ["", "06%2012", "abc", "%2B336123456789012345"])
def test_dev_sms_outbox_wants_a_number(client, to):
    assert_problem(client.get(f"/api/v1/dev/sms?to={to}"), 400, "validation_error")


@pytest.mark.parametrize("app_settings", [{"SMS_BACKEND": "outbox"}])
def test_outbox_mode_keeps_the_message_and_sends_nothing(app):
    _queue(app, NUMBER, "Votre code : 123456")
    with app.app_context():
        [row] = db.session.scalars(db.select(OutboxSms)).all()
        assert (row.status, row.to, row.attempts, row.sent_at) == ("kept", NUMBER, 0, None)


@pytest.mark.parametrize("app_settings", [{"SMS_BACKEND": "outbox"}])
def test_a_rolled_back_request_leaves_no_sms(app):
    with app.app_context():
        with pytest.raises(RuntimeError), unit_of_work():
            sms.queue(NUMBER, "Votre code : 123456")
            raise RuntimeError("the flow failed after queueing")
        assert db.session.scalars(db.select(OutboxSms)).all() == []


@pytest.mark.parametrize(
    "app_settings",
    [{"SMS_BACKEND": "http", "SMS_API_URL": "http://127.0.0.1:9"}],
)
def test_dev_sms_outbox_does_not_exist_when_sms_are_really_sent(app, client):
    _queue(app, NUMBER, "Votre code : 123456")
    response = client.get(f"/api/v1/dev/sms?to={NUMBER}")
    assert_problem(response, 404, "not_found")
    assert "123456" not in response.get_data(as_text=True)
    assert "/api/v1/dev/sms" not in client.get("/api/v1/openapi.json").json["paths"]


def test_dev_sms_outbox_does_not_exist_in_production(tmp_path, smtp, redis_prefix):
    production = make_settings(
        f"sqlite:///{tmp_path / 'prod.sqlite3'}", smtp.port, redis_prefix, SMS_BACKEND="outbox"
    )
    production.APP_ENV = "production"  # bypass start-up checks to look at routing only
    response = create_app(production).test_client().get(f"/api/v1/dev/sms?to={NUMBER}")
    assert_problem(response, 404, "not_found")
