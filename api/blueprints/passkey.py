"""Passkey sign-in: the enrolled phone alone, without NIR or password.

Registered only when ``PASSKEY_SIGN_IN`` is on; otherwise both routes are ``404``.
"""

from __future__ import annotations

from flask import Blueprint

from .. import errors as e
from .. import schemas
from ..config import settings
from ..extensions import limiter
from ..http import client_info, endpoint
from ..services import passkey_sign_in
from ..services.passkey_sign_in import PasskeySignIn

bp = Blueprint("passkey", __name__, url_prefix="/api/v1/auth/passkey")

# The same per-address limit as every other /auth/* route.
limiter.limit(lambda: settings().RATELIMIT_PER_IP)(bp)


@bp.post("/options")
@endpoint(
    summary="Passkey sign-in: a passkey_token and request options with empty allowCredentials",
    body=schemas.PasskeyOptionsRequest,
    optional_body=True,
    response=schemas.PasskeyStarted,
    errors=[e.ValidationError],
)
def options(data):
    return passkey_sign_in.begin(client_info(), device_token=data["device_token"])


@bp.post("/verify")
@endpoint(
    summary="Passkey sign-in: verify an AuthenticationResponseJSON with its userHandle",
    raw_body=schemas.AuthenticationResponseJSON,
    response=schemas.TokenPair,
    requires=PasskeySignIn,
    errors=[e.ValidationError, e.PasskeyFailed, e.TokenInvalid],
)
def verify(sign_in, data):
    return passkey_sign_in.finish(sign_in, data, client_info())
