"""The biometric second factor: a WebAuthn assertion in place of the emailed code.

The options list the account's own devices; the assertion is checked by
:func:`api.services.assertion.verify`, the same checks as a passkey sign-in, against a
challenge bound to this login transaction. A refusal counts as a wrong second factor.
"""

from __future__ import annotations

from typing import Any

from ..errors import NoAuthenticator
from ..infra.client import ClientInfo
from ..webauthn import ceremonies, challenges, credentials
from . import activity, assertion, login, tokens

PURPOSE = "authentication"
AMR = ["pwd", "hwk", "user"]


def begin(flow: login.LoginFlow) -> dict[str, Any]:
    """Return PublicKeyCredentialRequestOptionsJSON listing this account's devices."""
    usable = credentials.usable_of_account(flow.account.id)
    if not usable:
        raise NoAuthenticator()
    options, challenge = ceremonies.begin_authentication(allow=credentials.descriptors(usable))
    challenges.store(
        challenge,
        purpose=PURPOSE,
        account_id=flow.account.id,
        transaction_id=flow.id,
    )
    return options


def finish(flow: login.LoginFlow, payload: dict[str, Any], client: ClientInfo) -> tokens.TokenPair:
    """Verify the assertion and complete the sign-in."""
    parsed = assertion.parse(payload)
    account = flow.account
    challenge = challenges.find_open(
        parsed.challenge, purpose=PURPOSE, account_id=account.id, transaction_id=flow.id
    )
    try:
        authenticator = assertion.verify(
            parsed, challenge=challenge, account=account, client=client
        )
    except assertion.Refused as refusal:
        assertion.refuse(refusal, account, client)
    pair = flow.complete(AMR, client, authenticator_id=authenticator.id)
    activity.record("sign_in", account.id, client, method="webauthn")
    return pair
