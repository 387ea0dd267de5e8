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


class Refusal(ApiError):
    """A refusal whose records are the request's work: committed before it is answered.

    A wrong password, code or assertion, a reused token: the failure counts, the activity
    entries and the alerts they cause must survive the refusal. The unit of work commits
    for these (and only these) errors; any other error rolls the request back.
    """


class ValidationError(ApiError):
    status = 400
    code = "validation_error"
    title = "Données invalides"
    detail = "Certaines informations saisies ne sont pas valides. Vérifiez-les puis réessayez."


class InvalidJson(ApiError):
    status = 400
    code = "invalid_json"
    title = "Corps de requête illisible"
    detail = "La demande envoyée n'est pas un JSON valide."


class WeakPassword(ApiError):
    status = 400
    code = "weak_password"
    title = "Mot de passe trop faible"
    detail = "Ce mot de passe n'est pas assez sûr."


class WebAuthnRegistrationFailed(ApiError):
    status = 400
    code = "webauthn_failed"
    title = "Appareil non enregistré"
    detail = "L'appareil n'a pas pu être associé à votre compte. Réessayez."


class InvalidCredentials(Refusal):
    status = 401
    code = "invalid_credentials"
    title = "Identifiants incorrects"
    detail = (
        "Le numéro de sécurité sociale ou le mot de passe est incorrect. "
        "Vérifiez-les, puis réessayez."
    )


class TokenInvalid(ApiError):
    status = 401
    code = "token_invalid"
    title = "Session non valide"
    detail = "Votre connexion a pris fin. Reconnectez-vous."


class TokenExpired(ApiError):
    status = 401
    code = "token_expired"
    title = "Session expirée"
    detail = "Votre connexion a pris fin après un long moment sans activité. Reconnectez-vous."


class TokenReused(Refusal):
    status = 401
    code = "token_reused"
    title = "Session interrompue"
    detail = "Par sécurité, votre connexion a été fermée. Reconnectez-vous."


class OtpInvalid(Refusal):
    status = 401
    code = "otp_invalid"
    title = "Code incorrect"
    detail = "Le code saisi est incorrect. Vérifiez le code reçu puis réessayez."


class OtpExpired(ApiError):
    status = 401
    code = "otp_expired"
    title = "Code expiré"
    detail = (
        "Ce code n'est plus valable. Cliquez sur « Envoyer le code » pour en recevoir un nouveau."
    )


class OtpLocked(Refusal):
    status = 401
    code = "otp_locked"
    title = "Code bloqué"
    detail = (
        "Trop d'essais avec ce code. Cliquez sur « Envoyer le code » pour en recevoir un nouveau."
    )


class WebAuthnFailed(Refusal):
    status = 401
    code = "webauthn_failed"
    title = "Vérification biométrique refusée"
    detail = "La vérification biométrique n'a pas abouti. Réessayez ou recevez un code."


class PasskeyFailed(WebAuthnFailed):
    """A refused passkey sign-in: the same code, and a way forward without a code step."""

    detail = (
        "La connexion avec la biométrie n'a pas abouti. Réessayez, ou connectez-vous avec "
        "votre numéro de sécurité sociale et votre mot de passe."
    )


class InvalidRecoveryCode(Refusal):
    status = 401
    code = "invalid_recovery_code"
    title = "Code de récupération incorrect"
    detail = (
        "Le numéro de sécurité sociale ou le code remis au guichet est incorrect, ou ce code "
        "n'est plus valable. Vérifiez-les, ou demandez un nouveau code à votre Caf."
    )


class ReauthenticationRequired(ApiError):
    status = 401
    code = "reauthentication_required"
    title = "Reconnexion nécessaire"
    detail = "Pour votre sécurité, reconnectez-vous avant d'effectuer cette action."


class InvalidCurrentPassword(Refusal):
    # Never a 401: an app reads a 401 as "signed out".
    status = 400
    code = "invalid_current_password"
    title = "Mot de passe incorrect"
    detail = "Le mot de passe actuel est incorrect."


class DelegationForbidden(ApiError):
    status = 403
    code = "delegation_forbidden"
    title = "Action réservée à la personne titulaire du compte"
    detail = (
        "Un aidant ne peut pas faire cette modification. Seule la personne titulaire du "
        "compte peut la faire, en se connectant elle-même."
    )


class InsufficientScope(ApiError):
    status = 403
    code = "insufficient_scope"
    title = "Hors du mandat"
    detail = "Le mandat donné à l'aidant ne permet pas cette action."


class PasswordChangeRequired(ApiError):
    status = 403
    code = "password_change_required"
    title = "Nouveau mot de passe nécessaire"
    detail = (
        "Choisissez d'abord un nouveau mot de passe : celui qui vous a été remis ne sert "
        "qu'à la première connexion."
    )


class NotFound(ApiError):
    status = 404
    code = "not_found"
    title = "Introuvable"
    detail = "Cet élément n'existe pas, ou plus. Actualisez la page, puis réessayez."


class MediatorNotFound(ApiError):
    status = 404
    code = "mediator_not_found"
    title = "Aidant introuvable"
    detail = "Aucun aidant ne correspond à ce code. Vérifiez le code que votre aidant vous a donné."


class MethodNotAllowed(ApiError):
    status = 405
    code = "method_not_allowed"
    title = "Méthode non autorisée"
    detail = "Cette action n'est pas possible à cette adresse."


class NoAuthenticator(ApiError):
    status = 409
    code = "no_authenticator"
    title = "Aucun appareil associé"
    detail = "Aucun appareil n'est associé à votre compte pour la connexion biométrique."


class AlreadyRegistered(ApiError):
    status = 409
    code = "already_registered"
    title = "Appareil déjà associé"
    detail = "Cet appareil est déjà associé à un compte."


class FranceConnectFailed(ApiError):
    status = 400
    code = "franceconnect_failed"
    title = "Connexion FranceConnect impossible"
    detail = (
        "La connexion avec FranceConnect n'a pas abouti. Revenez à la page de connexion "
        "et réessayez."
    )


class LinkTokenInvalid(ApiError):
    # Never a 401 from an account endpoint: an app reads a 401 as "signed out".
    status = 400
    code = "link_token_invalid"
    title = "Association expirée"
    detail = (
        "Le délai pour associer FranceConnect à votre compte est dépassé. Cliquez à nouveau "
        "sur « S'identifier avec FranceConnect »."
    )


class LinkRequired(Refusal):
    # A refusal: the link token it carries is the request's work, kept for the link.
    status = 409
    code = "link_required"
    title = "Compte à associer"
    detail = (
        "Votre identité FranceConnect n'est pas encore associée à votre compte Mon Compte. "
        "Connectez-vous une fois avec votre numéro de sécurité sociale et votre mot de passe "
        "pour l'associer."
    )


class AlreadyLinked(ApiError):
    status = 409
    code = "already_linked"
    title = "Identité déjà associée"
    detail = "Cette identité FranceConnect est déjà associée à un autre compte Mon Compte."


class ChannelUnavailable(ApiError):
    status = 409
    code = "channel_unavailable"
    title = "Moyen de réception indisponible"
    detail = "Votre compte ne permet pas de recevoir un code de cette façon."


class LastChannel(ApiError):
    status = 409
    code = "last_channel"
    title = "Dernier moyen de réception"
    detail = (
        "Vous ne pouvez pas retirer ce moyen de réception : il ne vous en resterait aucun pour "
        "recevoir vos codes. Ajoutez-en d'abord un autre."
    )


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"
    title = "Demande trop volumineuse"
    detail = "La demande envoyée est trop volumineuse."


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"
    title = "Format non pris en charge"
    detail = "La demande doit être envoyée au format JSON."


class TooManyAttempts(Refusal):
    status = 429
    code = "too_many_attempts"
    title = "Trop de tentatives"
    detail = "Trop d'essais. Par sécurité, patientez un moment avant de réessayer."


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"
    title = "Trop de demandes"
    detail = "Vous avez fait trop de demandes. Patientez un peu avant de réessayer."


class ServiceUnavailable(ApiError):
    status = 503
    code = "service_unavailable"
    title = "Service indisponible"
    detail = "Le service est momentanément indisponible. Réessayez dans quelques instants."


class InternalError(ApiError):
    status = 500
    code = "internal_error"
    title = "Erreur interne"
    detail = "Un problème est survenu de notre côté. Réessayez dans quelques minutes."


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
