"""The « Gérer mon compte » menu the app renders."""

from __future__ import annotations

from ..config import settings

BASE = "/api/v1/account"

_FRANCECONNECT = [
    {
        "id": "franceconnect_link",
        "label": "Associer FranceConnect",
        "description": (
            "Connectez-vous avec FranceConnect (France Identité, L'Identité Numérique La Poste…), "
            "sans mot de passe ni code, même si vous les avez perdus."
        ),
        "href": f"{BASE}/franceconnect",
        "method": "POST",
    },
    {
        "id": "franceconnect_unlink",
        "label": "Retirer FranceConnect",
        "description": "FranceConnect ne pourra plus servir à vous connecter.",
        "href": f"{BASE}/franceconnect",
        "method": "DELETE",
    },
]


# What a mediator acting under a mandate may open: reading, never changing.
_DELEGATED_ENTRIES = frozenset({"activity"})


def items(*, delegated: bool = False) -> list[dict[str, str]]:
    """Return the menu entries the app renders under « Gérer mon compte ».

    A mediator acting under a mandate (``delegated``) gets only the entries they may use.
    """
    entries = _entries()
    if delegated:
        return [entry for entry in entries if entry["id"] in _DELEGATED_ENTRIES]
    if settings().franceconnect_enabled:
        entries[-1:-1] = _FRANCECONNECT  # before « Mon activité »
    return entries


def _entries() -> list[dict[str, str]]:
    return [
        {
            "id": "biometrics_enable",
            "label": "Activer la connexion biométrique",
            "description": (
                "Connectez-vous avec l'empreinte digitale ou le visage, sans attendre de code."
            ),
            "href": f"{BASE}/authenticators/options",
            "method": "POST",
        },
        {
            "id": "biometrics_list",
            "label": "Mes appareils pour la connexion biométrique",
            "description": "Voyez les téléphones associés à votre compte et renommez-les.",
            "href": f"{BASE}/authenticators",
            "method": "GET",
        },
        {
            "id": "biometrics_remove",
            "label": "Retirer un appareil",
            "description": "Un téléphone perdu ou vendu ne pourra plus vous connecter.",
            "href": f"{BASE}/authenticators/{{id}}",
            "method": "DELETE",
        },
        {
            "id": "contacts",
            "label": "Mes coordonnées",
            "description": "Où vous recevez vos codes : courriel, mobile, personne de confiance.",
            "href": f"{BASE}/contacts",
            "method": "GET",
        },
        {
            "id": "contact_email",
            "label": "Modifier mon adresse e-mail",
            "description": "Un code est envoyé à la nouvelle adresse pour la confirmer.",
            "href": f"{BASE}/contacts/email",
            "method": "PUT",
        },
        {
            "id": "contact_phone",
            "label": "Mon numéro de mobile",
            "description": "Recevez vos codes par SMS. Un code est envoyé au numéro pour le "
            "confirmer. Le SMS est moins sûr que la connexion biométrique.",
            "href": f"{BASE}/contacts/phone",
            "method": "PUT",
        },
        {
            "id": "contact_trusted_email",
            "label": "Personne de confiance",
            "description": "Un proche ou un travailleur social qui peut recevoir vos codes "
            "et vous les transmettre.",
            "href": f"{BASE}/contacts/trusted_email",
            "method": "PUT",
        },
        {
            "id": "password",
            "label": "Changer mon mot de passe",
            "description": (
                "Choisissez un nouveau mot de passe. Vos autres connexions seront fermées."
            ),
            "href": f"{BASE}/password",
            "method": "PUT",
        },
        {
            "id": "sessions",
            "label": "Mes connexions en cours",
            "description": "Voyez où votre compte est ouvert et fermez une connexion.",
            "href": f"{BASE}/sessions",
            "method": "GET",
        },
        {
            "id": "sessions_end_all",
            "label": "Déconnecter tous mes appareils",
            "description": (
                "Un téléphone perdu, un doute ? Fermez toutes les connexions à votre compte, "
                "sauf celle-ci."
            ),
            "href": f"{BASE}/sessions",
            "method": "DELETE",
        },
        {
            "id": "mandates",
            "label": "Mes aidants",
            "description": (
                "Autorisez un aidant (France Services, travailleur social) à vous accompagner, "
                "sans lui donner votre mot de passe. Vous pouvez retirer cette autorisation "
                "à tout moment."
            ),
            "href": f"{BASE}/mandates",
            "method": "GET",
        },
        {
            "id": "activity",
            "label": "Mon activité",
            "description": "Les connexions et changements récents sur votre compte.",
            "href": f"{BASE}/activity",
            "method": "GET",
        },
    ]
