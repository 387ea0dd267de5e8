"""FranceConnect+ sign-in, hand-off and linking. Registered only when it is configured.

While ``FRANCECONNECT_ISSUER`` is empty none of these routes exists: each answers the
ordinary ``404 not_found`` problem, and nothing else in the service changes.
"""

from __future__ import annotations

from flask import Blueprint, redirect, request

from .. import errors as e
from .. import schemas
from ..config import settings
from ..extensions import limiter
from ..franceconnect.provider import relying_party
from ..http import ACCESS_ERRORS, client_info, endpoint
from ..services import franceconnect_link, franceconnect_sign_in
from ..services.tokens import Holder

bp = Blueprint("franceconnect", __name__, url_prefix="/api/v1")

limiter.limit(lambda: settings().RATELIMIT_PER_IP)(bp)


@bp.get("/auth/franceconnect/jwks")
@endpoint(
    summary="The public keys FranceConnect+ encrypts id_tokens and userinfo to",
    response=schemas.Jwks,
    tag="franceconnect",
)
def jwks():
    return relying_party().public_jwks()


@bp.get("/auth/franceconnect/start")
@endpoint(
    summary="« S'identifier avec FranceConnect »: redirect to the provider (PKCE S256 challenge)",
    args=schemas.FranceConnectStart,
    status=302,
    errors=[e.ValidationError],
    tag="franceconnect",
)
def start(args):
    url = franceconnect_sign_in.start(args["return_to"], args["code_challenge"])
    return redirect(url, code=302)


@bp.get("/auth/franceconnect/callback")
@endpoint(
    summary="The provider's redirect: redirect to return_to with a hand-off, or an error",
    status=302,
    query=[
        {"name": name, "required": False, "schema": {"type": "string"}}
        for name in ("code", "state", "iss", "error", "error_description")
    ],
    errors=[e.FranceConnectFailed],
    tag="franceconnect",
)
def callback():
    return redirect(franceconnect_sign_in.callback(request.args.to_dict(flat=True)), code=302)


@bp.post("/auth/franceconnect/complete")
@endpoint(
    summary="The app's hand-off and PKCE verifier: sign in, or 409 link_required",
    body=schemas.FranceConnectComplete,
    response=schemas.TokenPair,
    errors=[e.ValidationError, e.TokenInvalid, e.LinkRequired],
    tag="franceconnect",
)
def complete(data):
    return franceconnect_sign_in.complete(
        data["handoff"], data["code_verifier"], client_info(), device_token=data["device_token"]
    )


@bp.post("/account/franceconnect")
@endpoint(
    summary="Link the FranceConnect identity of a link_token (sign-in under 5 minutes)",
    body=schemas.FranceConnectLinkRequest,
    response=schemas.FranceConnectLinked,
    status=201,
    requires=Holder,
    errors=[
        e.ValidationError,
        e.LinkTokenInvalid,
        e.AlreadyLinked,
        e.ReauthenticationRequired,
        *ACCESS_ERRORS,
    ],
    tag="account",
)
def link(principal, data):
    return franceconnect_link.link(principal, data["link_token"], client_info())


@bp.delete("/account/franceconnect")
@endpoint(
    summary="Unlink FranceConnect; the sessions it opened end",
    status=204,
    requires=Holder,
    errors=[e.NotFound, *ACCESS_ERRORS],
    tag="account",
)
def unlink(principal):
    franceconnect_link.unlink(principal, client_info())
