"""The ``mobile-mock`` command against live servers, as a QA tester would use it."""

from __future__ import annotations

import json
import subprocess

from mobile_mock import scenario
from tests.conftest import _free_port
from tests.live_server import BIN, ROOT
from tests.timeouts import COMMAND_SECONDS

NIR = "1850575123456"
PASSWORD = "Bienvenue à la Caf 2026"
EMAIL = "demo@moncompte.example"
PHONE = "+33612345678"  # the demo account's, mobile-mock's default
# A QA environment: short resend cooldown, so multi-phone scenarios run quickly.
QA_SETTINGS = {"OTP_RESEND_SECONDS": "1", "OTP_HOURLY_CAP": "50"}


MEDIATOR_EMAIL = "camille@france-services.example"


def create_mediator(server) -> dict:
    """Create a mediator with the operator command; return what it printed."""
    created = server.flask(
        "mediators",
        "create",
        "--email",
        MEDIATOR_EMAIL,
        "--name",
        "Camille Martin",
        "--organisation",
        "France Services de Montreuil",
        "--json",
    )
    assert created.returncode == 0, created.stderr
    return json.loads(created.stdout)


def mobile_mock(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "mobile-mock"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        check=False,
    )


def test_readme_journey_with_the_dev_outbox(start_live_server, tmp_path):
    server = start_live_server(**QA_SETTINGS)
    server.create_account(NIR, EMAIL, PASSWORD)
    base = ["--base-url", server.url, "--device", str(tmp_path / "phone.json")]

    signed_in = mobile_mock(*base, "sign-in")
    assert signed_in.returncode == 0, signed_in.stderr
    assert "Connecté avec le code reçu par courriel" in signed_in.stdout
    enabled = mobile_mock(*base, "enable-biometrics", "--name", "Pixel 8")
    assert enabled.returncode == 0, enabled.stderr
    assert mobile_mock(*base, "sign-out").returncode == 0

    bio = mobile_mock(*base, "--json", "bio-sign-in")
    assert bio.returncode == 0, bio.stdout + bio.stderr
    assert json.loads(bio.stdout)["ok"] is True
    devices = json.loads(mobile_mock(*base, "--json", "devices").stdout)["data"]
    assert [d["name"] for d in devices] == ["Pixel 8"]
    assert devices[0]["last_used_at"] is not None

    # The phone alone: no NIR, no password, no code; the app keeps its device token.
    assert mobile_mock(*base, "sign-out").returncode == 0
    device_token = json.loads((tmp_path / "phone.json").read_text())["device_token"]
    passkey = mobile_mock(*base, "passkey-sign-in")
    assert passkey.returncode == 0, passkey.stdout + passkey.stderr
    assert "Connecté avec la biométrie seule" in passkey.stdout
    assert json.loads((tmp_path / "phone.json").read_text())["device_token"] == device_token

    refused = mobile_mock(*base, "passkey-sign-in", "--fault", "cloned")
    assert refused.returncode == 1
    assert "webauthn_failed" in refused.stderr
    blocked = mobile_mock(*base, "bio-sign-in")
    assert blocked.returncode == 1 and "no_authenticator" in blocked.stderr


def test_shipped_scenarios_with_a_real_smtp_sink_and_sms_provider(start_live_server, tmp_path):
    """Mail to mobile-mock's SMTP server, SMS to its fake provider: as in production."""
    smtp_port = _free_port()
    sms_port = _free_port()
    server = start_live_server(
        MAIL_BACKEND="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_port),
        SMS_BACKEND="http",
        SMS_API_URL=f"http://127.0.0.1:{sms_port}",
        SMS_API_KEY="qa-key",
        **QA_SETTINGS,
    )
    server.create_account(NIR, EMAIL, PASSWORD, phone=PHONE)
    helper = create_mediator(server)
    for name in sorted(name for name in scenario.shipped() if not scenario.requirements(name)):
        run = mobile_mock(
            "--base-url",
            server.url,
            "--device",
            str(tmp_path / "phone.json"),
            "--smtp-sink",
            f"127.0.0.1:{smtp_port}",
            "--sms-sink",
            f"127.0.0.1:{sms_port}",
            "--sms-api-key",
            "qa-key",
            "run",
            name,
            "--mediator-email",
            MEDIATOR_EMAIL,
            "--mediator-password",
            helper["password"],
            "--totp-uri",
            helper["totp_uri"],
        )
        assert run.returncode == 0, f"{name}:\n{run.stdout}{run.stderr}"
        assert f"Scénario {name}: réussi" in run.stdout


def test_sms_sign_in_and_contacts_with_the_dev_sms_outbox(start_live_server, tmp_path):
    server = start_live_server(**QA_SETTINGS)
    server.create_account(NIR, None, PASSWORD, phone=PHONE)  # no email at all
    base = ["--base-url", server.url, "--device", str(tmp_path / "phone.json")]

    signed_in = mobile_mock(*base, "sign-in")
    assert signed_in.returncode == 0, signed_in.stdout + signed_in.stderr
    assert "Connecté avec le code reçu par SMS" in signed_in.stdout
    refused = mobile_mock(*base, "sign-in", "--channel", "email")
    assert refused.returncode == 1 and "channel_unavailable" in refused.stderr

    added = mobile_mock(*base, "--json", "add-contact", "email", EMAIL)
    assert added.returncode == 0, added.stdout + added.stderr
    assert json.loads(added.stdout)["data"]["value"] == EMAIL
    asked = mobile_mock(
        *base, "--json", "add-contact", "trusted_email", "aidant@exemple.fr", "--name", "Aidant"
    )
    assert asked.returncode == 0, asked.stdout + asked.stderr
    contacts = json.loads(mobile_mock(*base, "--json", "contacts").stdout)["data"]
    assert contacts["email"]["value"] == EMAIL and contacts["phone"]["value"] == PHONE
    assert contacts["trusted_email"]["name"] == "Aidant"

    by_trusted = mobile_mock(
        *base, "--trusted-email", "aidant@exemple.fr", "sign-in", "--channel", "trusted_email"
    )
    assert by_trusted.returncode == 0, by_trusted.stdout + by_trusted.stderr
    assert "personne de confiance" in by_trusted.stdout
    assert mobile_mock(*base, "remove-contact", "trusted_email").returncode == 0
    assert mobile_mock(*base, "remove-contact", "email").returncode == 0
    last = mobile_mock(*base, "remove-contact", "phone")
    assert last.returncode == 1 and "last_channel" in last.stderr


def test_recovery_commands_and_the_lost_everything_scenario(start_live_server, tmp_path):
    """« Mot de passe oublié » by SMS and email, then the counter code, from a terminal."""
    server = start_live_server(**QA_SETTINGS)
    server.create_account(NIR, EMAIL, PASSWORD, phone=PHONE)
    base = ["--base-url", server.url, "--device", str(tmp_path / "phone.json")]
    assert mobile_mock(*base, "sign-in").returncode == 0

    new_password = "Une phrase retrouvée 2027"
    by_sms = mobile_mock(
        *base, "forgot-password", "--channel", "sms", "--new-password", new_password
    )
    assert by_sms.returncode == 0, by_sms.stdout + by_sms.stderr
    assert "toutes vos connexions sont fermées" in by_sms.stdout
    # The earlier session of this phone ended with it.
    assert mobile_mock(*base, "activity").returncode == 1
    by_email = mobile_mock(*base, "forgot-password", "--new-password", PASSWORD)
    assert by_email.returncode == 0, by_email.stdout + by_email.stderr

    code = server.flask(
        "accounts", "recovery-code", "--nir", NIR, "--agent", "AG123", "--reason", "tout perdu"
    )
    assert code.returncode == 0, code.stderr
    run = mobile_mock(
        *base, "run", "telephone-et-boite-mail-perdus", "--counter-code", code.stdout.strip()
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Scénario telephone-et-boite-mail-perdus: réussi" in run.stdout
    # Spent: the same code serves no more.
    again = mobile_mock(
        *base, "counter-recovery", "--code", code.stdout.strip(), "--new-password", new_password
    )
    assert again.returncode == 1 and "invalid_recovery_code" in again.stderr
    # And the helpdesk sees the agent's action, with no secret.
    shown = server.flask("accounts", "show", "--nir", NIR)
    assert shown.returncode == 0, shown.stderr
    assert "counter_code_used" in shown.stdout
    assert EMAIL not in shown.stdout and code.stdout.strip() not in shown.stdout


def test_a_wrong_expectation_exits_non_zero_and_says_why(start_live_server, tmp_path):
    server = start_live_server(**QA_SETTINGS)
    server.create_account(NIR, EMAIL, PASSWORD)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        "name: attente-fausse\n"
        "steps:\n"
        "  - do: sign_in_with_code\n"
        "  - do: enable_biometrics\n"
        "    faults: [uv_failed]\n"
        "    expect: ok\n",
        encoding="utf-8",
    )
    run = mobile_mock(
        "--base-url", server.url, "--device", str(tmp_path / "p.json"), "run", str(wrong)
    )
    assert run.returncode == 1
    assert "✘ 2. [phone] enable_biometrics: webauthn_failed (attendu / expected: ok)" in run.stdout
    as_json = mobile_mock(
        "--base-url", server.url, "--device", str(tmp_path / "p.json"), "--json", "run", str(wrong)
    )
    report = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and report["ok"] is False
    assert report["steps"][-1]["outcome"] == "webauthn_failed"


def test_usage_errors_exit_2(tmp_path):
    assert mobile_mock("--device", str(tmp_path / "p.json"), "teleport").returncode == 2
    assert mobile_mock("bio-sign-in", "--fault", "laser").returncode == 2


def test_franceconnect_commands_against_the_local_provider(
    fc_provider, start_live_server, tmp_path
):
    server = fc_provider.serve(start_live_server, **QA_SETTINGS)
    server.create_account(NIR, EMAIL, PASSWORD)
    base = ["--base-url", server.url, "--device", str(tmp_path / "phone.json")]

    first = mobile_mock(*base, "franceconnect-sign-in", "--identity", "marcel")
    assert first.returncode == 1
    assert "link_required" in first.stderr and "franceconnect-link" in first.stderr
    assert mobile_mock(*base, "sign-in").returncode == 0
    linked = mobile_mock(*base, "--json", "franceconnect-link")
    assert linked.returncode == 0, linked.stdout + linked.stderr
    assert json.loads(linked.stdout)["data"]["family_name"] == "MARTIN"
    assert mobile_mock(*base, "sign-out").returncode == 0

    signed_in = mobile_mock(*base, "franceconnect-sign-in", "--identity", "marcel")
    assert signed_in.returncode == 0, signed_in.stderr
    assert "Connecté avec FranceConnect" in signed_in.stdout
    signed_out = mobile_mock(*base, "--json", "sign-out")
    url = json.loads(signed_out.stdout)["data"]["franceconnect_logout_url"]
    assert url.startswith(fc_provider.issuer + "/session/end?")

    low = mobile_mock(*base, "franceconnect-sign-in", "--identity", "marcel", "--acr", "eidas1")
    assert low.returncode == 1 and "franceconnect_failed" in low.stderr


def test_the_shipped_franceconnect_scenario_against_a_live_server(
    fc_provider, start_live_server, tmp_path
):
    server = fc_provider.serve(start_live_server, **QA_SETTINGS)
    server.create_account(NIR, EMAIL, PASSWORD)
    for name in sorted(
        name for name in scenario.shipped() if "franceconnect" in scenario.requirements(name)
    ):
        run = mobile_mock(
            "--base-url", server.url, "--device", str(tmp_path / "phone.json"), "run", name
        )
        assert run.returncode == 0, f"{name}:\n{run.stdout}{run.stderr}"
        assert f"Scénario {name}: réussi" in run.stdout


def test_the_mediator_role_from_a_terminal(start_live_server, tmp_path):
    server = start_live_server(**QA_SETTINGS)
    server.create_account(NIR, EMAIL, PASSWORD)
    helper = create_mediator(server)
    holder = ["--base-url", server.url, "--device", str(tmp_path / "phone.json")]
    aidant = ["--mediator", "--base-url", server.url, "--device", str(tmp_path / "aidant.json")]

    signed_in = mobile_mock(
        *aidant,
        "sign-in",
        "--email",
        MEDIATOR_EMAIL,
        "--password",
        helper["password"],
        "--totp-uri",
        helper["totp_uri"],
        "--new-password",
        "Un mot de passe d'aidant 7",
    )
    assert signed_in.returncode == 0, signed_in.stdout + signed_in.stderr
    assert "Aidant connecté" in signed_in.stdout
    assert mobile_mock(*holder, "sign-in").returncode == 0
    granted = mobile_mock(
        *holder,
        "--json",
        "grant-mandate",
        "--code",
        helper["mediator_code"],
        "--scope",
        "consult",
        "--scope",
        "declare",
        "--days",
        "1",
    )
    assert granted.returncode == 0, granted.stdout + granted.stderr
    mandate_id = json.loads(granted.stdout)["data"]["id"]

    mandates = json.loads(mobile_mock(*aidant, "--json", "mandates").stdout)["data"]
    assert [m["id"] for m in mandates] == [mandate_id]
    assert NIR not in json.dumps(mandates)
    assert mobile_mock(*aidant, "open", mandate_id).returncode == 0
    account = json.loads(mobile_mock(*aidant, "--json", "account").stdout)["data"]
    assert account["email"] == EMAIL
    activity = json.loads(mobile_mock(*aidant, "--json", "activity").stdout)["data"]
    assert activity[0]["type"] == "delegated_session_opened"

    assert mobile_mock(*holder, "revoke-mandate", mandate_id).returncode == 0
    refused = mobile_mock(*aidant, "account")
    assert refused.returncode == 1 and "token_invalid" in refused.stderr
    assert mobile_mock(*aidant, "sign-out").returncode == 0
    # The device file is the mediator's app: it holds the TOTP secret, for its owner only.
    assert oct((tmp_path / "aidant.json").stat().st_mode & 0o777) == "0o600"
