"""Security events: recorded for audit, shown to the account holder in French."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select

from ..clock import utcnow
from ..extensions import db
from ..infra.client import ClientInfo
from ..infra.mail_templates import scopes_sentence
from ..models import SecurityEvent, new_id

_METHODS = {
    "otp": "avec le code reçu par courriel",  # events recorded before codes by SMS
    "email": "avec le code reçu par courriel",
    "sms": "avec le code reçu par SMS",
    "trusted_email": "avec le code transmis par votre personne de confiance",
    "webauthn": "avec la biométrie de votre téléphone",
    "fc": "avec FranceConnect",
    "counter": "avec le code remis au guichet de la Caf",
}
# Where a sign-in code went.
_CHANNELS = {
    "email": "à votre adresse électronique",
    "sms": "par SMS à votre mobile",
    "trusted_email": "à votre personne de confiance",
}
# Which contact an event is about.
_KINDS = {
    "email": "votre adresse électronique",
    "phone": "votre numéro de mobile",
    "trusted_email": "votre personne de confiance",
}

# Events whose sentence depends on how they happened, by (type, method).
_LABELS_BY_METHOD: dict[tuple[str, str], str] = {
    ("sign_in", "passkey"): "Connexion avec la biométrie seule, sans mot de passe.",
}

# What the person reads in "Mon activité". Placeholders come from the event's data,
# which never holds a secret.
_LABELS: dict[str, str] = {
    "sign_in": "Connexion à votre compte {method}.",
    "password_failed": "Mot de passe incorrect lors d'une tentative de connexion.",
    "login_locked": "Connexion bloquée pendant {minutes} minutes après plusieurs essais.",
    "code_sent": "Un code de connexion a été envoyé {channel}.",
    "code_failed": "Un code de connexion incorrect a été saisi.",
    "code_locked": "Code de connexion bloqué après trop d'essais incorrects.",
    "password_changed": "Votre mot de passe a été modifié.",
    "password_change_failed": (
        "Mot de passe actuel incorrect lors d'une tentative de changement de mot de passe."
    ),
    "password_change_locked": (
        "Changement de mot de passe bloqué pendant {minutes} minutes après plusieurs essais."
    ),
    "second_factor_locked": (
        "Connexion bloquée pendant {hours} heures après de très nombreux codes ou "
        "vérifications biométriques incorrects."
    ),
    "contact_code_sent": "Un code a été envoyé pour confirmer {kind}.",
    "contact_code_failed": "Un code incorrect a été saisi pour confirmer {kind}.",
    "contact_added": "Ajout de {kind}.",
    "contact_changed": "Modification de {kind}.",
    "contact_removed": "Retrait de {kind}.",
    "session_ended": "Une connexion a été fermée.",
    "signed_out": "Vous vous êtes déconnecté.",
    "token_reused": (
        "Une connexion a été fermée par sécurité : elle semblait utilisée depuis deux endroits."
    ),
    "authenticator_added": "Appareil « {name} » associé pour la connexion biométrique.",
    "authenticator_renamed": "Appareil renommé en « {name} ».",
    "authenticator_removed": (
        "Appareil « {name} » retiré de la connexion biométrique ; "
        "les connexions ouvertes avec lui ont été fermées."
    ),
    "webauthn_failed": "Échec d'une connexion biométrique.",
    "franceconnect_linked": (
        "Votre compte a été associé à FranceConnect : vous pouvez vous connecter avec "
        "FranceConnect."
    ),
    "franceconnect_unlinked": (
        "FranceConnect a été retiré de votre compte ; les connexions ouvertes avec "
        "FranceConnect ont été fermées."
    ),
    "franceconnect_identity_changed": (
        "Une connexion avec FranceConnect a été refusée : l'identité reçue ne correspond plus "
        "à celle associée à votre compte."
    ),
    "counter_regression": (
        "Appareil « {name} » bloqué : il semble avoir été copié. "
        "Il ne peut plus servir à vous connecter."
    ),
    "mandate_granted": (
        "Vous avez donné un mandat à {mediator} ({organisation}) pour {scopes}, jusqu'au {until}."
    ),
    "mandate_revoked": "Vous avez retiré le mandat donné à {mediator} ({organisation}).",
    "mandate_ended": (
        "Le mandat donné à {mediator} ({organisation}) a pris fin : son compte d'aidant "
        "a été fermé."
    ),
    "delegated_session_opened": (
        "{mediator} ({organisation}) a ouvert une session sur votre compte grâce à votre "
        "mandat, pour {scopes}."
    ),
    "delegated_session_ended": "{mediator} ({organisation}) a fermé sa session sur votre compte.",
    "recovery_code_sent": (
        "Un code pour changer votre mot de passe (« Mot de passe oublié ») a été envoyé {channel}."
    ),
    "recovery_code_failed": "Un code incorrect a été saisi pour changer votre mot de passe.",
    "password_recovered": (
        "Votre mot de passe a été changé {method} ; toutes vos connexions ont été fermées."
    ),
    "counter_code_issued": (
        "Un agent de la Caf (identifiant {agent}) vous a remis un code de récupération, "
        "valable {hours} heures."
    ),
    "counter_code_used": (
        "Le code de récupération remis par un agent de la Caf (identifiant {agent}) a servi."
    ),
    "counter_code_failed": "Un code de récupération incorrect a été saisi.",
    "counter_code_locked": (
        "Récupération avec un code du guichet bloquée après plusieurs codes incorrects."
    ),
    "operator_unlocked": "Un agent de la Caf (identifiant {agent}) a débloqué votre compte.",
    "operator_viewed": (
        "Un agent de la Caf (identifiant {agent}) a consulté l'état de votre compte pour "
        "vous aider."
    ),
    "all_sessions_ended": "Vous avez déconnecté tous vos autres appareils.",
    "not_me_reported": (
        "Vous avez signalé « Ce n'était pas moi » ; toutes vos autres connexions ont été fermées."
    ),
}


def record(
    event_type: str,
    account_id: str | None,
    client: ClientInfo | None = None,
    **data: Any,
) -> None:
    """Add a security event to the current database transaction.

    A plain INSERT, not an ORM object: events are written once and never read back in
    the request that records them.
    """
    client = client or ClientInfo()
    db.session.execute(
        insert(SecurityEvent).values(
            id=new_id(),
            account_id=account_id,
            type=event_type,
            created_at=utcnow(),
            ip=client.ip,
            user_agent=client.user_agent,
            data=data,
        )
    )


def describe(event: SecurityEvent) -> str:
    """Return the French sentence shown for ``event``."""
    values = dict(event.data or {})
    template = _LABELS_BY_METHOD.get((event.type, values.get("method", ""))) or _LABELS.get(
        event.type, "Événement de sécurité."
    )
    values["method"] = _METHODS.get(values.get("method", ""), "")
    if isinstance(values.get("scopes"), list):
        values["scopes"] = scopes_sentence(values["scopes"])
    # A masked destination, when recorded, says which one: "… (06 •• •• •• 78)".
    where = f" ({values['to']})" if values.get("to") else ""
    values["channel"] = _CHANNELS.get(values.get("channel", "email"), "") + where
    values["kind"] = _KINDS.get(values.get("kind", ""), "vos coordonnées") + where
    try:
        return template.format(**values).replace("  ", " ").replace(" .", ".")
    except (KeyError, IndexError):
        return template.split("{")[0].strip()


def recent_activity(account_id: str, limit: int = 50) -> list[SecurityEvent]:
    """Return the account's events, newest first."""
    query = (
        select(SecurityEvent)
        .where(SecurityEvent.account_id == account_id)
        .order_by(SecurityEvent.created_at.desc(), SecurityEvent.id)
        .limit(limit)
    )
    return list(db.session.scalars(query))
