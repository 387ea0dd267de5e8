"""Sign-in endpoints: password step, code by email, SMS or trusted person, refresh, sign-out."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from .. import errors as e
from .. import schemas
from ..config import settings
from ..extensions import limiter
from ..http import client_info, endpoint
from ..services import (
    biometric_sign_in,
    counter_recovery,
    delegation,
    franceconnect_logout,
    login,
    recovery,
    sessions,
    sign_in_code,
    tokens,
)
from ..services.login import LoginFlow
from ..services.recovery import Recovery
from ..services.tokens import RefreshGrant, SessionOwner

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")

# Generous per-address limits: France Services counters sign many people in from one
# address. The real brute-force defence is the per-NIR lockout in the database.
limiter.limit(lambda: settings().RATELIMIT_PER_IP)(bp)


# The paths limited per address: the holders' sign-in (passkeys included) and the mediators'.
LIMITED_PREFIXES = (bp.url_prefix + "/", "/api/v1/mediator/")


@limiter.request_filter
def _outside_sign_in() -> bool:
    """Spare every other request the limiter's work: only sign-in is limited per address."""
    return not request.path.startswith(LIMITED_PREFIXES)


@bp.post("/login")
@endpoint(
    summary="Password step: NIR and password, returns an mfa_token for the second factor",
    body=schemas.LoginRequest,
    response=schemas.LoginStarted,
    errors=[e.ValidationError, e.InvalidCredentials, e.TooManyAttempts],
)
def sign_in(data):
    return login.begin_login(
        data["nir"], data["password"], client_info(), device_token=data["device_token"]
    )


@bp.post("/otp")
@endpoint(
    summary="« Envoyer le code »: a fresh 6-digit code by email, SMS or to the trusted person",
    body=schemas.SendCodeRequest,
    optional_body=True,
    response=schemas.CodeSent,
    status=202,
    requires=LoginFlow,
    errors=[
        e.ValidationError,
        e.ChannelUnavailable,
        e.TokenInvalid,
        e.TokenExpired,
        e.RateLimited,
    ],
)
def send_code(flow, data):
    return sign_in_code.send_code(flow, client_info(), data["channel"])


@bp.post("/otp/verify")
@endpoint(
    summary="Check the code and complete the sign-in",
    body=schemas.VerifyCodeRequest,
    response=schemas.TokenPair,
    requires=LoginFlow,
    errors=[
        e.ValidationError,
        e.OtpInvalid,
        e.OtpExpired,
        e.OtpLocked,
        e.TokenInvalid,
        e.TokenExpired,
    ],
)
def verify_code(flow, data):
    return sign_in_code.verify_code(flow, data["code"], client_info())


@bp.post("/refresh")
@endpoint(
    summary="Rotate the refresh token (a holder's or a mediator's) and get a new token pair",
    response=schemas.TokenPair,
    requires=RefreshGrant,
    errors=[e.TokenInvalid, e.TokenExpired, e.TokenReused],
)
def refresh(grant):
    return tokens.rotate_refresh_token(grant.token, client_info())


@bp.post("/logout")
@endpoint(
    summary="End the current session (or a mediator's delegated one): its tokens stop at once "
    "(200 with the provider's sign-out URL for a session opened with FranceConnect+)",
    status=204,
    also={200: schemas.FranceConnectLogout},
    requires=SessionOwner,
    errors=[e.TokenInvalid, e.TokenExpired],
)
def sign_out(principal):
    if principal.delegation is not None:  # a mediator is done acting for the holder
        delegation.end_session(principal.session, principal.delegation, client_info())
        return None
    sessions.sign_out(principal.session, client_info())
    logout_url = franceconnect_logout.end_session_url(principal.session)
    if logout_url is not None:
        return jsonify(schemas.FranceConnectLogout().dump({"franceconnect_logout_url": logout_url}))
    return None


@bp.post("/webauthn/options")
@endpoint(
    summary="Biometric sign-in: request options listing this account's devices",
    response=schemas.RequestOptions,
    requires=LoginFlow,
    errors=[e.NoAuthenticator, e.TokenInvalid, e.TokenExpired],
)
def webauthn_options(flow):
    return biometric_sign_in.begin(flow)


@bp.post("/webauthn/verify")
@endpoint(
    summary="Biometric sign-in: verify an AuthenticationResponseJSON and complete the sign-in",
    raw_body=schemas.AuthenticationResponseJSON,
    response=schemas.TokenPair,
    requires=LoginFlow,
    errors=[e.ValidationError, e.WebAuthnFailed, e.TokenInvalid, e.TokenExpired],
)
def webauthn_verify(flow, data):
    return biometric_sign_in.finish(flow, data, client_info())


@bp.post("/recovery")
@endpoint(
    summary="« Mot de passe oublié »: a 6-digit code by email or SMS; always 202, the same "
    "answer whether the NIR has an account with that channel or not",
    body=schemas.RecoveryRequest,
    response=schemas.RecoveryStarted,
    status=202,
    errors=[e.ValidationError, e.RateLimited],
)
def start_recovery(data):
    return recovery.start(data["nir"], data["channel"], client_info())


@bp.post("/recovery/verify")
@endpoint(
    summary="Check the recovery code and set the new password: every session ends, the "
    "holder is told on every channel",
    body=schemas.RecoveryVerifyRequest,
    status=204,
    requires=Recovery,
    errors=[
        e.ValidationError,
        e.WeakPassword,
        e.OtpInvalid,
        e.OtpExpired,
        e.OtpLocked,
        e.TooManyAttempts,
        e.TokenInvalid,
        e.TokenExpired,
    ],
)
def verify_recovery(recovery_flow, data):
    recovery.complete(recovery_flow, data["code"], data["new_password"], client_info())


@bp.post("/recovery/counter")
@endpoint(
    summary="Recovery with a code an agent handed over at a counter: new password and, when "
    "given, new contacts; every previous contact is told",
    body=schemas.CounterRecoveryRequest,
    status=204,
    errors=[e.ValidationError, e.WeakPassword, e.InvalidRecoveryCode, e.TooManyAttempts],
)
def counter_recovery_redeem(data):
    counter_recovery.redeem(
        data["nir"],
        data["recovery_code"],
        data["new_password"],
        client_info(),
        email=data["email"],
        phone=data["phone"],
    )
