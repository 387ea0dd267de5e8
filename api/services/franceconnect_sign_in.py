"""Signing in with FranceConnect+: start, the provider's callback, the app's hand-off.

1. :func:`start` (the app or the page, with a PKCE ``code_challenge``) opens an attempt
   and sends the person to the provider with a fresh ``state`` and ``nonce``.
2. :func:`callback` (the provider sends the person back) spends the ``state``, exchanges
   the code, checks every token (see :mod:`api.franceconnect`) and sends the person to
   ``return_to`` with a one-time hand-off, valid 2 minutes. Any failure sends them there
   with ``error=franceconnect_failed`` instead; an unknown or spent ``state`` cannot name
   a ``return_to`` and is answered with a problem.
3. :func:`complete` (the app, with its ``code_verifier``) spends the hand-off: a linked
   identity signs in like any other way in (:func:`api.services.login.open_session`),
   with ``amr ["fc"]`` and the ``acr`` the provider vouched for; an identity not (or no
   longer) linked gets a link token instead.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..clock import utcnow
from ..config import settings
from ..errors import FranceConnectFailed, LinkRequired, TokenInvalid, ValidationError
from ..extensions import db
from ..franceconnect.provider import ProviderError, relying_party
from ..infra import mail_templates
from ..infra.client import ClientInfo
from ..infra.keys import same
from ..models import Account, FranceConnectAttempt
from . import activity, devices, franceconnect_logout, login, notices, tokens
from . import franceconnect_attempts as attempts
from .franceconnect_link import by_subject

log = logging.getLogger(__name__)
FAILED = "franceconnect_failed"


def start(return_to: str, code_challenge: str) -> str:
    """Open an attempt; return the provider's authorization URL (or ``return_to`` with an error)."""
    if return_to not in settings().FRANCECONNECT_RETURN_URLS:
        # Exact match only: anything else would make the service an open redirect.
        raise ValidationError(
            errors={"return_to": ["Cette adresse de retour n'est pas autorisée."]}
        )
    party = relying_party()
    try:
        party.metadata()  # the provider is known before anything is stored
    except ProviderError as exc:
        log.warning("franceconnect start failed", extra={"reason": str(exc)})
        return with_params(return_to, error=FAILED)
    _attempt, state, nonce = attempts.open_attempt(return_to, code_challenge)
    return party.authorization_url(state=state, nonce=nonce)


def callback(params: Mapping[str, str]) -> str:
    """Handle the provider's redirect; return where to send the person next."""
    found = attempts.find("state", params.get("state"))
    # Spent at once, whatever follows: a state (and its nonce) serves one callback.
    if found is None or not attempts.spend(found[1]):
        raise FranceConnectFailed()
    attempt, secret = found
    if not attempts.is_live(secret):
        return _failed(attempt, "state expired")
    if "error" in params:
        return _failed(attempt, f"provider answered {params['error'][:64]!r}")
    party = relying_party()
    # RFC 9207: the authorization response names its issuer; it must be ours (mix-up).
    if "iss" in params and params["iss"] != party.issuer:
        return _failed(attempt, "authorization response from another issuer")
    code = params.get("code")
    if not code or len(code) > 512:
        return _failed(attempt, "no code")
    try:
        identity = party.identify(
            code, nonce_matches=lambda nonce: same(attempts.nonce_digest(nonce), attempt.nonce_hash)
        )
    except ProviderError as exc:
        return _failed(attempt, str(exc))
    attempts.record_identity(attempt, identity)
    handoff = attempts.issue(attempt, "handoff", attempts.HANDOFF_TTL)
    return with_params(attempt.return_to, handoff=handoff)


def _failed(attempt: FranceConnectAttempt, reason: str) -> str:
    log.warning("franceconnect sign-in failed", extra={"attempt": attempt.id, "reason": reason})
    return with_params(attempt.return_to, error=FAILED)


def complete(
    handoff: str, code_verifier: str, client: ClientInfo, device_token: str | None = None
) -> tokens.TokenPair:
    """Spend the hand-off of the app that holds ``code_verifier``; sign in or ask to link."""
    found = attempts.find("handoff", handoff)
    if found is None:
        raise TokenInvalid()
    attempt, secret = found
    if not attempts.is_live(secret) or not _verifier_matches(code_verifier, attempt.code_challenge):
        raise TokenInvalid()
    if not attempts.spend(secret):
        raise TokenInvalid()
    link = by_subject(attempt.sub_hash)
    if link is None:
        raise _link_required(attempt)
    account = db.session.get(Account, link.account_id)
    if account is None or account.disabled_at is not None:
        raise TokenInvalid()
    if not same(link.pivot_hash, attempt.pivot_hash):
        # Same subject, another pivot identity: the provider's records changed, or
        # something is wrong. Nobody signs in until the holder links it again.
        activity.record("franceconnect_identity_changed", account.id, client)
        notices.tell_holder(account, mail_templates.franceconnect_identity_changed(utcnow()))
        raise _link_required(
            attempt,
            "L'identité transmise par FranceConnect ne correspond plus à celle associée à votre "
            "compte. Connectez-vous avec votre numéro de sécurité sociale et votre mot de passe "
            "pour associer à nouveau FranceConnect.",
        )
    device = devices.find_valid(device_token, account.id)
    pair = login.open_session(
        account, ["fc"], client, acr=attempt.acr, device_id=device.id if device else None
    )
    franceconnect_logout.remember(pair.session_id, attempt)
    link.last_used_at = utcnow()
    attempts.forget_identity(attempt)
    activity.record("sign_in", account.id, client, method="fc")
    return pair


def _link_required(attempt: FranceConnectAttempt, detail: str | None = None) -> LinkRequired:
    link_token = attempts.issue(attempt, "link", attempts.LINK_TTL)
    attempt.id_token = None  # no session opens: there is nothing to sign out of
    return LinkRequired(
        detail, link_token=link_token, expires_in=int(attempts.LINK_TTL.total_seconds())
    )


def _verifier_matches(code_verifier: str, code_challenge: str) -> bool:
    """RFC 7636 S256: BASE64URL(SHA-256(code_verifier)) == code_challenge."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=")
    return same(computed, code_challenge.encode("ascii"))


def with_params(url: str, **params: str) -> str:
    """Return ``url`` with ``params`` added to its query (web page or app link alike)."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))
