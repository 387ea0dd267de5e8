"""Passkey sign-in: the enrolled phone alone, without NIR or password.

A platform authenticator with user verification is two factors in itself (the phone and
the fingerprint or face) and cannot be phished. :func:`begin` opens a passkey flow (an
opaque ``passkey_token``, stored hashed, 5 minutes) and asks for an assertion with an
empty ``allowCredentials``: the phone offers its discoverable credentials. :func:`finish`
finds the account from the returned ``userHandle`` and the credential together, runs the
checks of the biometric second step (:func:`api.services.assertion.verify`) and
completes the sign-in as every flow does (:func:`api.services.login.open_session`).

Every refusal is the same ``401 webauthn_failed`` (:class:`~api.errors.PasskeyFailed`).
When the user handle and the credential name an account together, a refusal is recorded
in its activity and counts as a wrong second factor, as in the second step; otherwise
nobody's account is touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

from sqlalchemy import select

from ..clock import utcnow
from ..config import settings
from ..errors import PasskeyFailed, TokenInvalid
from ..extensions import db
from ..infra.client import ClientInfo
from ..infra.keys import keyed_hash, new_token
from ..infra.spend import spend_once
from ..models import Account, Authenticator, PasskeyFlow
from ..webauthn import ceremonies, challenges
from . import activity, assertion, devices, login, tokens

PURPOSE = "passkey"
AMR = ["hwk", "user"]
PREFIX = "pk"


@dataclass(frozen=True)
class PasskeyStarted:
    passkey_token: str
    expires_in: int
    options: dict[str, Any]


def begin(client: ClientInfo, device_token: str | None = None) -> PasskeyStarted:
    """Open a passkey flow; return its token and the request options for the phone.

    A genuine ``device_token`` is remembered with the flow: when the sign-in completes
    for the account that device belongs to, the same token is handed back.
    """
    token = new_token(PREFIX)
    now = utcnow()
    ttl = settings().WEBAUTHN_CHALLENGE_TTL_SECONDS
    device = devices.find_live(device_token)
    flow = PasskeyFlow(
        token_hash=keyed_hash("passkey", token),
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
        device_id=device.id if device else None,
        ip=client.ip,
        user_agent=client.user_agent,
    )
    db.session.add(flow)
    db.session.flush()
    options, challenge = ceremonies.begin_authentication(allow=[])
    challenges.store(challenge, purpose=PURPOSE, account_id=None, passkey_flow_id=flow.id)
    return PasskeyStarted(passkey_token=token, expires_in=ttl, options=options)


@dataclass(frozen=True)
class PasskeySignIn:
    """A passkey sign-in between its options and its assertion."""

    # How @endpoint(requires=PasskeySignIn) finds it and names it.
    security_scheme: ClassVar[str] = "passkeyToken"
    argument: ClassVar[str] = "sign_in"

    flow: PasskeyFlow

    @classmethod
    def from_bearer(cls, passkey_token: str) -> PasskeySignIn:
        """Return the open flow behind ``passkey_token``.

        Another kind of token is ``token_invalid``. A passkey token that is spent,
        expired or unknown carries a challenge that is replayed or dead: the same
        ``webauthn_failed`` as every other refusal of the ceremony.
        """
        if not passkey_token.startswith(PREFIX + "_"):
            raise TokenInvalid()
        digest = keyed_hash("passkey", passkey_token)
        flow = db.session.scalar(select(PasskeyFlow).where(PasskeyFlow.token_hash == digest))
        if flow is None or flow.completed_at is not None or flow.expires_at <= utcnow():
            assertion.refuse(
                assertion.Refused("passkey flow spent or expired"), error=PasskeyFailed
            )
        return cls(flow)

    @property
    def id(self) -> str:
        return self.flow.id

    def complete(
        self, account: Account, client: ClientInfo, *, authenticator_id: str
    ) -> tokens.TokenPair:
        """Close the flow and open the session, as every sign-in completes."""
        if not spend_once(PasskeyFlow.completed_at, PasskeyFlow.id == self.id, at=utcnow()):
            # Unreachable while the flow's one challenge is spent first; rolled back if not.
            raise TokenInvalid()
        return login.open_session(
            account, AMR, client, authenticator_id=authenticator_id, device_id=self.flow.device_id
        )


def finish(sign_in: PasskeySignIn, payload: dict[str, Any], client: ClientInfo) -> tokens.TokenPair:
    """Verify the assertion, find whose it is, and complete the sign-in."""
    parsed = assertion.parse(payload)
    account = _account_named_by(parsed)
    if account is None:
        assertion.refuse(assertion.Refused("no account for this credential"), error=PasskeyFailed)
    challenge = challenges.find_open(
        parsed.challenge, purpose=PURPOSE, account_id=None, passkey_flow_id=sign_in.id
    )
    try:
        authenticator = assertion.verify(
            parsed, challenge=challenge, account=account, client=client, require_user_handle=True
        )
    except assertion.Refused as refusal:
        assertion.refuse(refusal, account, client, error=PasskeyFailed)
    # Found without being named: whatever the client said at enrolment, it is a passkey.
    authenticator.discoverable = True
    pair = sign_in.complete(account, client, authenticator_id=authenticator.id)
    activity.record("sign_in", account.id, client, method="passkey")
    return pair


def _account_named_by(parsed: ceremonies.ParsedAssertion) -> Account | None:
    """Return the live account whose user handle AND credential the assertion carries."""
    if parsed.user_handle is None:
        return None
    return db.session.scalar(
        select(Account)
        .join(Authenticator, Authenticator.account_id == Account.id)
        .where(
            Authenticator.credential_id == parsed.credential.raw_id,
            Account.webauthn_user_handle == parsed.user_handle,
            Account.disabled_at.is_(None),
        )
    )
