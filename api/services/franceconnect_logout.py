"""Signing out of a session opened with FranceConnect+, at the provider too.

The provider's sign-out (OpenID Connect RP-Initiated Logout) wants the id_token of that
sign-in as ``id_token_hint``. The id_token names the person to the provider and nothing
more, but it is a bearer artefact: only the signed one (decrypted) is kept, sealed with a
key derived from ``SECRET_KEY`` and bound to its session, in a row that goes at sign-out
or with the session itself (ended sessions are purged within the hour).
"""

from __future__ import annotations

import logging
import secrets

from ..clock import utcnow
from ..config import settings
from ..extensions import db
from ..franceconnect.provider import ProviderError, relying_party
from ..infra import sealed
from ..models import AuthSession, FranceConnectAttempt, FranceConnectSession
from . import franceconnect_attempts as attempts

log = logging.getLogger(__name__)
PURPOSE = "franceconnect-session-id-token"


def remember(session_id: str | None, attempt: FranceConnectAttempt) -> None:
    """Keep the attempt's id_token for the sign-out of the session it opened."""
    id_token = attempts.id_token(attempt)
    if session_id is None or id_token is None:
        return
    db.session.add(
        FranceConnectSession(
            session_id=session_id,
            id_token=sealed.seal(PURPOSE, id_token, bound_to=session_id),
            # Back where the person started from (the web page, or the app's web link).
            post_logout_redirect_uri=settings().franceconnect_post_logout_uri(attempt.return_to),
            created_at=utcnow(),
        )
    )


def end_session_url(session: AuthSession) -> str | None:
    """Return the provider's sign-out URL for ``session`` if FranceConnect+ opened it.

    The id_token is forgotten in the same step: the URL is handed out once.
    """
    if not settings().franceconnect_enabled:
        return None
    kept = db.session.get(FranceConnectSession, session.id)
    if kept is None:
        return None
    db.session.delete(kept)
    id_token = sealed.unseal(PURPOSE, kept.id_token, bound_to=session.id)
    if id_token is None:
        return None
    try:
        return relying_party().end_session_url(
            id_token=id_token,
            post_logout_redirect_uri=kept.post_logout_redirect_uri,
            state=secrets.token_urlsafe(32),
        )
    except ProviderError as exc:
        # Signed out here in any case; the provider's own session ends by itself.
        log.warning("franceconnect sign-out URL unavailable", extra={"reason": str(exc)})
        return None
