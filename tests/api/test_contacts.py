"""« Mes coordonnées »: adding, changing and removing where codes go."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import NO_EMAIL, bearer, fresh_phone

CONTACTS = "/api/v1/account/contacts"


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


class Holder:
    """A signed-in holder managing their contacts through the API."""

    def __init__(self, auth, account) -> None:
        self.auth, self.account = auth, account
        self.client = auth.client
        self.token = auth.sign_in(account)["access_token"]

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)

    def contacts(self) -> dict:
        return self.client.get(CONTACTS, headers=self.headers).json

    def put(self, kind: str, value: str, name: str | None = None):
        body = {"value": value} if name is None else {"value": value, "name": name}
        return self.client.put(f"{CONTACTS}/{kind}", json=body, headers=self.headers)

    def verify(self, kind: str, code: str):
        return self.client.post(
            f"{CONTACTS}/{kind}/verify", json={"code": code}, headers=self.headers
        )

    def delete(self, kind: str):
        return self.client.delete(f"{CONTACTS}/{kind}", headers=self.headers)

    def activity(self) -> list[dict]:
        return self.client.get("/api/v1/account/activity", headers=self.headers).json["items"]

    def methods(self) -> list[str]:
        return self.auth.login(self.account).json["methods"]


@pytest.fixture
def holder(auth, account) -> Holder:
    return Holder(auth, account)


@pytest.fixture
def both(auth, make_account) -> Holder:
    return Holder(auth, make_account(phone=fresh_phone()))


def subjects(smtp, address: str) -> list[str]:
    return [message["Subject"] for message in smtp.to(address)]


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def test_contacts_show_the_holders_own_values(holder, account):
    assert holder.contacts() == {
        "email": {"value": account.email, "verified_at": holder.contacts()["email"]["verified_at"]},
        "phone": None,
        "trusted_email": None,
    }
    # Signing in with an emailed code verified the address the operator registered.
    assert holder.contacts()["email"]["verified_at"] is not None


def test_adding_a_mobile_changes_nothing_until_the_code_is_typed(holder, account, auth, smtp):
    number = fresh_phone()
    asked = holder.put("phone", "06 " + " ".join(re.findall("..", number[4:])))
    assert asked.status_code == 202, asked.json
    assert asked.json == {
        "expires_in": 900,
        "resend_after": 60,
        "destination_hint": f"06 •• •• •• {number[-2:]}",
    }
    [text] = auth.texts(number)
    assert "valable 15 minutes" in text and len(text) <= 160
    # Nothing changed yet: not in the contacts, not offered at sign-in, nobody told.
    assert holder.contacts()["phone"] is None
    assert holder.methods() == ["email_otp"]
    assert not [s for s in subjects(smtp, account.email) if "mobile" in s.lower()]

    code = auth.last_sms_code(number)
    wrong_try = holder.verify("phone", wrong(code))
    assert wrong_try.status_code == 401 and wrong_try.json["attempts_remaining"] == 4
    assert holder.contacts()["phone"] is None

    done = holder.verify("phone", code)
    assert done.status_code == 200
    assert done.json["value"] == number and done.json["verified_at"] is not None
    assert holder.contacts()["phone"]["value"] == number
    assert holder.methods() == ["email_otp", "sms_otp"]
    notice = smtp.wait_for(account.email, "Numéro de mobile ajouté")
    assert f"06 •• •• •• {number[-2:]}" in text_of(notice)
    assert "Si ce n'était pas vous" in text_of(notice)
    details = [item["detail"] for item in holder.activity()]
    assert details[0] == f"Ajout de votre numéro de mobile (06 •• •• •• {number[-2:]})."
    assert any(d.startswith("Un code a été envoyé pour confirmer votre numéro") for d in details)
    # The code is spent.
    assert holder.verify("phone", code).json["code"] == "otp_expired"


def test_changing_the_address_tells_the_old_one_and_the_mobile(both, auth, smtp):
    old_email, phone = both.account.email, both.account.phone
    new_email = "nouvelle-adresse@exemple.fr"
    assert both.put("email", new_email).status_code == 202
    code = smtp.last_code(new_email)
    assert "confirmer votre adresse" in smtp.to(new_email)[-1]["Subject"]
    texts_before = len(auth.texts(phone))
    # Until the code is typed, sign-in codes still go to the old address.
    assert both.contacts()["email"]["value"] == old_email

    assert both.verify("email", code).status_code == 200
    assert both.contacts()["email"] == {
        "value": new_email,
        "verified_at": both.contacts()["email"]["verified_at"],
    }
    notice = smtp.wait_for(old_email, "Adresse électronique modifiée")
    assert "n•••@e•••.fr" in text_of(notice)  # the new address, masked
    [sms_notice] = auth.texts(phone)[: len(auth.texts(phone)) - texts_before]
    assert sms_notice.startswith("Mon Compte Caf : Adresse électronique modifiée")
    assert len(sms_notice) <= 160
    # The new address got the code only, no notice about itself.
    assert subjects(smtp, new_email) == [smtp.to(new_email)[0]["Subject"]]


def test_a_change_needs_a_fresh_sign_in(holder, clock, app):
    clock.advance(seconds=app.extensions["settings"].REAUTH_MAX_AGE_SECONDS + 1)
    for response in (holder.put("phone", fresh_phone()), holder.delete("email")):
        assert response.status_code == 401
        assert response.json["code"] == "reauthentication_required"


def test_the_code_may_be_typed_after_the_freshness_window(holder, auth, clock):
    """Reading an SMS can take a while: the code, asked when fresh, still counts."""
    number = fresh_phone()
    holder.put("phone", number)
    clock.advance(minutes=10)
    assert holder.verify("phone", auth.last_sms_code(number)).status_code == 200


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("phone", {"value": "01 42 00 00 00"}, "value"),
        ("phone", {"value": "+44 7911 123456"}, "value"),
        ("email", {"value": "pas-une-adresse"}, "value"),
        ("email", {"value": ""}, "value"),
        ("trusted_email", {"value": "proche@exemple.fr"}, "name"),
        ("trusted_email", {"value": "proche@exemple.fr", "name": "  "}, "name"),
        ("phone", {"value": "0612345678", "name": "Moi"}, "name"),
        ("email", {"value": "a@exemple.fr", "extra": 1}, "extra"),
    ],
)
def test_malformed_contacts_are_validation_errors(holder, kind, body, field):
    response = holder.client.put(f"{CONTACTS}/{kind}", json=body, headers=holder.headers)
    assert response.status_code == 400 and response.json["code"] == "validation_error"
    assert list(response.json["errors"]) == [field]


def test_the_same_value_or_the_holders_own_address_is_refused(holder, account):
    assert holder.put("email", account.email).json["code"] == "validation_error"
    own = holder.put("trusted_email", account.email.upper(), name="Moi-même")
    assert own.status_code == 400 and "différentes" in own.json["errors"]["value"][0]


def test_an_unknown_kind_is_not_found(holder):
    assert holder.put("fax", "0142000000").status_code == 404
    assert holder.delete("fax").status_code == 404


def test_a_code_belongs_to_its_session_and_kind(holder, auth, account, smtp):
    number = fresh_phone()
    holder.put("phone", number)
    code = auth.last_sms_code(number)
    other = Holder(auth, account)  # another session of the same holder
    assert other.verify("phone", code).json["code"] == "otp_expired"
    assert holder.verify("email", code).json["code"] == "otp_expired"
    assert holder.verify("phone", code).status_code == 200


def test_contact_codes_expire_and_lock(holder, auth, clock):
    number = fresh_phone()
    holder.put("phone", number)
    code = auth.last_sms_code(number)
    for _ in range(4):
        holder.verify("phone", wrong(code))
    assert holder.verify("phone", wrong(code)).json["code"] == "otp_locked"
    assert holder.verify("phone", code).json["code"] == "otp_locked"
    assert holder.contacts()["phone"] is None

    clock.advance(seconds=61)
    holder.put("phone", number)
    clock.advance(seconds=901)
    assert holder.verify("phone", auth.last_sms_code(number)).json["code"] == "otp_expired"


def test_asking_again_waits_for_the_cooldown(holder):
    assert holder.put("phone", fresh_phone()).status_code == 202
    again = holder.put("phone", fresh_phone())
    assert again.status_code == 429 and again.json["code"] == "rate_limited"


def test_removing_a_contact_tells_it_and_the_other_channel(both, auth, smtp):
    email, phone = both.account.email, both.account.phone
    assert both.delete("email").status_code == 204
    assert both.contacts()["email"] is None
    assert both.methods() == ["sms_otp"]
    smtp.wait_for(email, "Adresse électronique retirée")
    assert auth.texts(phone)[0].startswith("Mon Compte Caf : Adresse électronique retirée")
    assert both.activity()[0]["detail"].startswith("Retrait de votre adresse électronique (")
    assert both.delete("email").status_code == 404


def test_the_last_channel_cannot_be_removed(holder):
    response = holder.delete("email")
    assert response.status_code == 409 and response.json["code"] == "last_channel"
    assert holder.contacts()["email"] is not None


def test_parallel_removals_never_leave_an_account_without_a_channel(app, both):
    def remove(kind: str) -> int:
        return app.test_client().delete(f"{CONTACTS}/{kind}", headers=both.headers).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(pool.map(remove, ["email", "phone"] * 3))
    assert statuses.count(204) == 1 and set(statuses) == {204, 404, 409}, statuses
    contacts = both.contacts()
    assert (contacts["email"] is None) != (contacts["phone"] is None)


def test_parallel_confirmations_put_a_change_in_force_once(app, holder, auth, smtp):
    number = fresh_phone()
    holder.put("phone", number)
    code = auth.last_sms_code(number)

    def confirm(_: int) -> int:
        return (
            app.test_client()
            .post(f"{CONTACTS}/phone/verify", json={"code": code}, headers=holder.headers)
            .status_code
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(confirm, range(8)))
    assert statuses.count(200) == 1, statuses
    assert len([s for s in subjects(smtp, holder.account.email) if "mobile" in s]) == 1


# --- the trusted person --------------------------------------------------------------


def make_trusted(holder: Holder, smtp, address: str = "assistante.sociale@exemple.fr") -> str:
    assert holder.put("trusted_email", address, name="Mme Martin").status_code == 202
    assert holder.verify("trusted_email", smtp.last_code(address)).status_code == 200
    return address


def test_a_trusted_person_receives_codes_only_once_both_agreed(holder, auth, smtp, account):
    trusted = "assistante.sociale@exemple.fr"
    assert holder.put("trusted_email", trusted, name="Mme Martin").status_code == 202
    [invitation] = smtp.to(trusted)
    body = text_of(invitation)
    assert body.startswith("Bonjour Mme Martin,")
    assert f"pour le compte Caf de 1 85 •• •• ••• {account.nir[-3:]}" in body
    assert "Ne donnez ce code qu'à cette personne" in body
    # Before the holder types the code, the address is nothing.
    assert holder.methods() == ["email_otp"]
    mfa = auth.start(account)
    assert auth.send_code(mfa, "trusted_email").json["code"] == "channel_unavailable"

    assert holder.verify("trusted_email", smtp.last_code(trusted)).status_code == 200
    assert holder.contacts()["trusted_email"]["name"] == "Mme Martin"
    smtp.wait_for(trusted, "Vous êtes personne de confiance")
    smtp.wait_for(account.email, "Personne de confiance ajoutée")

    login = auth.login(account).json
    assert login["methods"] == ["email_otp", "trusted_email_otp"]
    assert login["trusted_email_hint"] == "a•••@e•••.fr"
    sent = auth.send_code(login["mfa_token"], "trusted_email")
    assert sent.status_code == 202 and sent.json["destination_hint"] == "a•••@e•••.fr"
    message = smtp.wait_for(trusted, "code de connexion")
    assert f"pour le compte Caf de 1 85 •• •• ••• {account.nir[-3:]}" in text_of(message)
    assert "Ne donnez ce code qu'à cette personne" in text_of(message)
    pair = auth.verify(login["mfa_token"], smtp.last_code(trusted)).json
    holder.token = pair["access_token"]
    details = [item["detail"] for item in holder.activity()]
    assert details[0] == (
        "Connexion à votre compte avec le code transmis par votre personne de confiance."
    )
    assert details[1] == (
        "Un code de connexion a été envoyé à votre personne de confiance (a•••@e•••.fr)."
    )


def test_the_trusted_person_is_told_when_replaced_and_not_of_other_changes(holder, auth, smtp):
    first = make_trusted(holder, smtp)
    holder.put("phone", fresh_phone())  # the holder's own channels are none of their business
    before = subjects(smtp, first)

    second = "voisin@exemple.fr"
    holder.token = auth.sign_in(holder.account)["access_token"]  # a fresh session again
    assert holder.put("trusted_email", second, name="Paul").status_code == 202
    assert holder.verify("trusted_email", smtp.last_code(second)).status_code == 200
    smtp.wait_for(first, "Vous n'êtes plus personne de confiance")
    smtp.wait_for(second, "Vous êtes personne de confiance")
    assert len(subjects(smtp, first)) == len(before) + 1
    smtp.wait_for(holder.account.email, "Personne de confiance modifiée")

    assert holder.delete("trusted_email").status_code == 204
    assert "Vous n'êtes plus personne de confiance" in subjects(smtp, second)[-1]
    assert holder.contacts()["trusted_email"] is None


def test_a_phone_only_holder_is_told_by_sms(auth, make_account, smtp):
    holder = Holder(auth, make_account(email=NO_EMAIL, phone=fresh_phone()))
    assert holder.put("email", "premiere-adresse@exemple.fr").status_code == 202
    assert holder.verify("email", smtp.last_code("premiere-adresse@exemple.fr")).status_code == 200
    assert auth.texts(holder.account.phone)[0].startswith(
        "Mon Compte Caf : Adresse électronique ajoutée"
    )


def test_the_menu_offers_the_contacts(holder):
    items = holder.client.get("/api/v1/account/menu", headers=holder.headers).json["items"]
    labels = {item["id"]: (item["label"], item["method"], item["href"]) for item in items}
    assert labels["contact_email"] == (
        "Modifier mon adresse e-mail",
        "PUT",
        "/api/v1/account/contacts/email",
    )
    assert labels["contact_phone"][0] == "Mon numéro de mobile"
    assert labels["contact_trusted_email"][0] == "Personne de confiance"
    assert labels["contacts"] == ("Mes coordonnées", "GET", "/api/v1/account/contacts")
