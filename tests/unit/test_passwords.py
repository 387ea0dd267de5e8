import pytest
from argon2 import PasswordHasher, Type

from api.errors import WeakPassword
from api.infra import passwords


def test_hash_uses_the_required_argon2id_parameters(app):
    with app.app_context():
        encoded = passwords.hash_password("Une phrase de passe solide")
    assert encoded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_verify_normalises_unicode(app):
    with app.app_context():
        encoded = passwords.hash_password("caf\u00e9 au lait du matin")  # é precomposed
        assert passwords.verify_password(encoded, "cafe\u0301 au lait du matin")  # e + accent


def test_over_long_input_is_refused_without_hashing(app):
    with app.app_context():
        encoded = passwords.hash_password("Une phrase de passe solide")
        assert not passwords.verify_password(encoded, "x" * 10_000)


def test_the_cap_applies_after_normalisation_when_hashing_and_verifying(app, argon2_inputs):
    expands = "\ufdfa" * 15  # 15 characters, 270 once NFKC-normalised
    with app.app_context():
        encoded = passwords.hash_password("Une phrase de passe solide")
        assert not passwords.verify_password(encoded, expands)
        with pytest.raises(WeakPassword) as caught:
            passwords.hash_password(expands)
        assert caught.value.extra["reason"] == "too_long"
    assert all(len(text) <= passwords.MAX_LENGTH for text in argon2_inputs)


def test_accounts_are_never_created_over_the_cap(app):
    from api.services import accounts

    with app.app_context(), pytest.raises(WeakPassword):
        accounts.create_account(
            "1850575999001", "a@exemple.fr", "\ufdfa" * 15, check_password=False
        )


def test_old_parameters_are_flagged_for_rehash(app):
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID)
    with app.app_context():
        assert passwords.needs_rehash(weak.hash("Une phrase de passe solide"))
        assert not passwords.needs_rehash(passwords.hash_password("Une phrase de passe solide"))


def test_sign_in_rehashes_an_old_hash(app, auth, account):
    from api.extensions import db
    from api.models import Account

    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID)
    with app.app_context():
        row = db.session.get(Account, account.id)
        row.password_hash = weak.hash(account.password)
        db.session.commit()
    assert auth.login(account).status_code == 200
    with app.app_context():
        assert "m=19456,t=2,p=1" in db.session.get(Account, account.id).password_hash


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("1234567", "too_short"),
        ("motdepasse", "common"),
        ("Azerty123", "common"),
        ("1850575123456abc", "contains_nir"),
        ("MonCompte!!", "context_word"),
        ("abababababab", "repetitive"),
    ],
)
def test_policy_reasons(password, reason):
    with pytest.raises(WeakPassword) as caught:
        passwords.check_new_password(password, nir="1850575123456")
    assert caught.value.extra["reason"] == reason


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "Le chat de ma voisine 1984",
        "été à Marseille ☀️ 2026",
        "        espaces   partout        ",
    ],
)
def test_policy_accepts_passphrases_without_composition_rules(password):
    passwords.check_new_password(password, nir="1850575123456")
