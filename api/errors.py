"""One exception family, rendered as RFC 9457 problem+json.

Services raise :class:`ApiError` subclasses; the app turns each into a response with a
stable ``code`` and a short French ``detail`` a person can read. Nothing sensitive is
ever placed in an error: details are fixed sentences, never echoes of the input.
"""

from __future__ import annotations

import math
import time
import traceback
from typing import Any, ClassVar

from flask import Flask, Response, json
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

PROBLEM_JSON = "application/problem+json"


class ApiError(Exception):
    """Base of every error the API reports to a client."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Requête invalide"
    detail: ClassVar[str] = "La demande n'a pas pu être traitée."

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(self.code)
        if detail is not None:
            self.detail = detail  # type: ignore[misc]
        self.headers = headers or {}
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        body = {
            "type": f"https://moncompte.caf.example/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        body.update(self.extra)
        return body


def _error(name: str, status: int, code: str, title: str, detail: str) -> type[ApiError]:
    return type(
        name, (ApiError,), {"status": status, "code": code, "title": title, "detail": detail}
    )


ValidationError = _error(
    "ValidationError",
    400,
    "validation_error",
    "Données invalides",
    "Certaines informations saisies ne sont pas valides. Vérifiez-les puis réessayez.",
)
InvalidJson = _error(
    "InvalidJson",
    400,
    "invalid_json",
    "Corps de requête illisible",
    "La demande envoyée n'est pas un JSON valide.",
)
WeakPassword = _error(
    "WeakPassword",
    400,
    "weak_password",
    "Mot de passe trop faible",
    "Ce mot de passe n'est pas assez sûr.",
)
WebAuthnRegistrationFailed = _error(
    "WebAuthnRegistrationFailed",
    400,
    "webauthn_failed",
    "Appareil non enregistré",
    "L'appareil n'a pas pu être associé à votre compte. Réessayez.",
)
InvalidCredentials = _error(
    "InvalidCredentials",
    401,
    "invalid_credentials",
    "Identifiants incorrects",
    "Le numéro de sécurité sociale ou le mot de passe est incorrect.",
)
TokenInvalid = _error(
    "TokenInvalid",
    401,
    "token_invalid",
    "Session non valide",
    "Votre session n'est plus valide. Veuillez vous reconnecter.",
)
TokenExpired = _error(
    "TokenExpired",
    401,
    "token_expired",
    "Session expirée",
    "Votre session a expiré. Veuillez vous reconnecter.",
)
TokenReused = _error(
    "TokenReused",
    401,
    "token_reused",
    "Session interrompue",
    "Par sécurité, votre session a été fermée. Veuillez vous reconnecter.",
)
OtpInvalid = _error(
    "OtpInvalid",
    401,
    "otp_invalid",
    "Code incorrect",
    "Le code saisi est incorrect. Vérifiez le code reçu par courriel.",
)
OtpExpired = _error(
    "OtpExpired",
    401,
    "otp_expired",
    "Code expiré",
    "Ce code n'est plus valable. Cliquez sur « Envoyer le code » pour en recevoir un nouveau.",
)
OtpLocked = _error(
    "OtpLocked",
    401,
    "otp_locked",
    "Code bloqué",
    "Trop d'essais avec ce code. Cliquez sur « Envoyer le code » pour en recevoir un nouveau.",
)
WebAuthnFailed = _error(
    "WebAuthnFailed",
    401,
    "webauthn_failed",
    "Vérification biométrique refusée",
    "La vérification biométrique n'a pas abouti. Réessayez ou recevez un code par courriel.",
)
ReauthenticationRequired = _error(
    "ReauthenticationRequired",
    401,
    "reauthentication_required",
    "Reconnexion nécessaire",
    "Pour votre sécurité, reconnectez-vous avant d'effectuer cette action.",
)
InvalidCurrentPassword = _error(
    "InvalidCurrentPassword",
    401,
    "invalid_credentials",
    "Mot de passe incorrect",
    "Le mot de passe actuel est incorrect.",
)
NotFound = _error(
    "NotFound", 404, "not_found", "Introuvable", "La ressource demandée n'existe pas."
)
MethodNotAllowed = _error(
    "MethodNotAllowed",
    405,
    "method_not_allowed",
    "Méthode non autorisée",
    "Cette action n'est pas possible à cette adresse.",
)
NoAuthenticator = _error(
    "NoAuthenticator",
    409,
    "no_authenticator",
    "Aucun appareil associé",
    "Aucun appareil n'est associé à votre compte pour la connexion biométrique.",
)
AlreadyRegistered = _error(
    "AlreadyRegistered",
    409,
    "already_registered",
    "Appareil déjà associé",
    "Cet appareil est déjà associé à un compte.",
)
PayloadTooLarge = _error(
    "PayloadTooLarge",
    413,
    "payload_too_large",
    "Demande trop volumineuse",
    "La demande envoyée est trop volumineuse.",
)
UnsupportedMediaType = _error(
    "UnsupportedMediaType",
    415,
    "unsupported_media_type",
    "Format non pris en charge",
    "La demande doit être envoyée au format JSON.",
)
TooManyAttempts = _error(
    "TooManyAttempts",
    429,
    "too_many_attempts",
    "Trop de tentatives",
    "Trop de tentatives de connexion. Patientez quelques minutes avant de réessayer.",
)
RateLimited = _error(
    "RateLimited",
    429,
    "rate_limited",
    "Trop de demandes",
    "Vous avez fait trop de demandes. Patientez un peu avant de réessayer.",
)
ServiceUnavailable = _error(
    "ServiceUnavailable",
    503,
    "service_unavailable",
    "Service indisponible",
    "Le service est momentanément indisponible. Réessayez dans quelques instants.",
)
InternalError = _error(
    "InternalError",
    500,
    "internal_error",
    "Erreur interne",
    "Une erreur inattendue est survenue. Réessayez dans quelques instants.",
)

_HTTP_ERRORS: dict[int, type[ApiError]] = {
    400: InvalidJson,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    429: RateLimited,
}


def problem_response(error: ApiError) -> Response:
    """Render ``error`` as a problem+json response."""
    response = Response(json.dumps(error.to_dict()), status=error.status, mimetype=PROBLEM_JSON)
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def _limiter_retry_after() -> int:
    from .extensions import limiter

    current = limiter.current_limit
    if current is None:
        return 60
    return max(1, math.ceil(current.reset_at - time.time()))


def register_error_handlers(app: Flask) -> None:
    """Make every error leave the app as problem+json."""

    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError) -> Response:
        return problem_response(error)

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException) -> Response:
        api_error_class = _HTTP_ERRORS.get(error.code or 500)
        if api_error_class is None:
            api_error = ApiError()
            api_error.status = error.code or 500  # type: ignore[misc]
            api_error.code = "http_error"  # type: ignore[misc]
        else:
            api_error = api_error_class()
        response = problem_response(api_error)
        if error.code == 405 and error.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        if error.code == 429:
            response.headers["Retry-After"] = str(_limiter_retry_after())
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        # A lost database is an outage, not a bug: say so and let the client retry.
        if isinstance(error, OperationalError):
            app.logger.warning("database unavailable: %s", type(error).__name__)
            return problem_response(ServiceUnavailable(headers={"Retry-After": "5"}))
        if isinstance(error, DBAPIError):
            app.logger.error("unhandled error", extra=_database_error_fields(error))
            return problem_response(InternalError())
        app.logger.exception("unhandled error")
        return problem_response(InternalError())


def _database_error_fields(error: DBAPIError) -> dict[str, Any]:
    """Describe a database error by where and what, never by the driver's message.

    The engine hides bound parameters (``hide_parameters``), but the server's own message
    may quote values: PostgreSQL's DETAIL gives "Key (…)=(…) already exists" or "Failing
    row contains (…)". Class, SQLSTATE, constraint and the statement with its placeholders
    say what failed; the stack says where.
    """
    orig = error.orig
    diag = getattr(orig, "diag", None)
    return {
        "error": f"{type(error).__name__} ({type(orig).__name__})",
        "sqlstate": getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None),
        "constraint": getattr(diag, "constraint_name", None),
        "statement": error.statement,
        "stack": "".join(traceback.format_tb(error.__traceback__)),
    }
