"""What the signed-in person sees of their account and of the « Gérer mon compte » menu."""

from __future__ import annotations

from typing import Any

from ..models import Account

BASE = "/api/v1/account"


def describe_account(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "nir_masked": account.nir_masked,
        "email": account.email,
        "created_at": account.created_at,
        "password_changed_at": account.password_changed_at,
        "authenticators": [],
    }


def menu_items(account: Account) -> list[dict[str, str]]:
    """Return the menu entries the app renders under « Gérer mon compte »."""
    return [
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
            "id": "activity",
            "label": "Mon activité",
            "description": "Les connexions et changements récents sur votre compte.",
            "href": f"{BASE}/activity",
            "method": "GET",
        },
    ]
