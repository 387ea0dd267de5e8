"""The French emails the service sends, in plain text and HTML.

Plain words for people with little digital experience; every message says what to do
if the person did not ask for it, and none carries a link to click.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

_PARIS = ZoneInfo("Europe/Paris")

_WARNING = (
    "Attention ! En aucun cas, un conseiller de la Caf ne vous demandera ce code, "
    "ni par téléphone, ni par courriel, ni par SMS. Ne le communiquez à personne."
)
# Where the page and the app let the holder act at once: « Mon activité » has « Ce n'était
# pas moi » next to each event, « Mes connexions en cours » « Déconnecter tous mes appareils ».
_ACT_NOW = (
    "Dans votre espace Mon Compte, le bouton « Ce n'était pas moi » (dans « Mon activité ») "
    "ou « Déconnecter tous mes appareils » (dans « Mes connexions en cours ») ferme aussitôt "
    "toutes les autres connexions à votre compte."
)
_NOT_YOU = (
    "Si vous n'êtes pas à l'origine de cette action, changez votre mot de passe depuis "
    "l'appli Caf - Mon Compte (menu « Gérer mon compte ») ou contactez votre Caf. " + _ACT_NOW
)
_SIGNATURE = "Votre Caf\n\nCe message est envoyé automatiquement, merci de ne pas y répondre."


@dataclass(frozen=True)
class MailMessage:
    subject: str
    text: str
    html: str


def _paris(moment: datetime) -> str:
    local = moment.astimezone(_PARIS)
    return local.strftime("%d/%m/%Y à %Hh%M")


def paris_date(moment: datetime) -> str:
    """Return the day of ``moment`` in Paris, as a French reader writes it: 31/12/2026."""
    return moment.astimezone(_PARIS).strftime("%d/%m/%Y")


# What each mandate scope lets a mediator do, as the holder reads it.
SCOPE_LABELS = {
    "consult": "consulter votre compte",
    "declare": "faire vos déclarations",
    "documents": "envoyer vos documents",
}


def scopes_sentence(scopes: list[str]) -> str:
    """Return "consulter votre compte et faire vos déclarations" for a list of scopes."""
    labels = [SCOPE_LABELS.get(scope, scope) for scope in scopes]
    if len(labels) <= 1:
        return "".join(labels)
    return ", ".join(labels[:-1]) + " et " + labels[-1]


def _render(
    subject: str,
    paragraphs: list[str],
    highlight: str | None = None,
    greeting: str = "Bonjour,",
) -> MailMessage:
    text_parts = [greeting, *paragraphs, _SIGNATURE]
    if highlight:
        text_parts.insert(2, highlight)
    html_parts = [f"<p>{escape(greeting)}</p>"]
    for index, paragraph in enumerate(paragraphs):
        html_parts.append(f"<p>{escape(paragraph)}</p>")
        if highlight and index == 0:
            html_parts.append(
                '<p style="font-size:28px;font-weight:bold;letter-spacing:6px">'
                f"{escape(highlight)}</p>"
            )
    html_parts.append(
        "<p>Votre Caf</p><p><small>Ce message est envoyé automatiquement, "
        "merci de ne pas y répondre.</small></p>"
    )
    html = (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        f"<title>{escape(subject)}</title></head><body>{''.join(html_parts)}</body></html>"
    )
    return MailMessage(subject=subject, text="\n\n".join(text_parts) + "\n", html=html)


def sign_in_code(code: str, ttl_seconds: int) -> MailMessage:
    minutes = max(1, ttl_seconds // 60)
    return _render(
        "Votre code de connexion à Mon Compte",
        [
            "Voici votre code de vérification pour vous connecter à votre espace Mon Compte :",
            f"Ce code est valable {minutes} minutes et ne peut servir qu'une seule fois.",
            _WARNING,
            "Si vous n'avez pas demandé ce code, quelqu'un connaît peut-être votre mot de "
            "passe : changez-le dès que possible.",
        ],
        highlight=code,
    )


def password_changed(at: datetime) -> MailMessage:
    return _render(
        "Votre mot de passe Mon Compte a été modifié",
        [
            f"Le mot de passe de votre espace Mon Compte a été modifié le {_paris(at)}.",
            "Par sécurité, vos autres connexions ont été fermées.",
            _NOT_YOU,
        ],
    )


def login_locked(minutes: int) -> MailMessage:
    return _render(
        "Connexion à Mon Compte bloquée temporairement",
        [
            "Plusieurs mots de passe incorrects ont été saisis pour votre compte. Par sécurité, "
            f"la connexion est bloquée pendant {minutes} minutes.",
            "Si c'était vous, patientez puis réessayez. Si vous avez oublié votre mot de passe, "
            "utilisez « Mot de passe oublié » sur la page de connexion.",
            _NOT_YOU,
        ],
    )


def second_factor_failed(at: datetime) -> MailMessage:
    return _render(
        "Tentative de connexion à votre compte",
        [
            f"Le {_paris(at)}, une personne a saisi votre mot de passe correctement, "
            "puis plusieurs codes de vérification incorrects.",
            "Si ce n'était pas vous, votre mot de passe est connu d'une autre personne : "
            "changez-le dès maintenant.",
            _WARNING.replace("ce code", "votre code"),
        ],
    )


def authenticator_added(name: str, at: datetime) -> MailMessage:
    return _render(
        "Nouvel appareil associé à votre compte",
        [
            f"L'appareil « {name} » a été associé à votre espace Mon Compte le {_paris(at)} "
            "pour la connexion biométrique (empreinte digitale ou reconnaissance faciale).",
            "Si c'était vous, vous n'avez rien à faire.",
            "Si ce n'était pas vous, retirez cet appareil depuis le menu « Gérer mon compte », "
            "puis changez votre mot de passe.",
            _ACT_NOW,
        ],
    )


def counter_regression(name: str, at: datetime) -> MailMessage:
    return _render(
        "Un appareil associé à votre compte a été bloqué",
        [
            f"Le {_paris(at)}, une connexion biométrique avec l'appareil « {name} » a été "
            "refusée : cet appareil semble avoir été copié. Il ne peut plus servir à vous "
            "connecter.",
            "Vous pouvez toujours vous connecter avec un code de vérification, puis "
            "associer à nouveau votre téléphone.",
            _NOT_YOU,
        ],
    )


def second_factor_locked(hours: int) -> MailMessage:
    return _render(
        "Connexion à Mon Compte bloquée par sécurité",
        [
            "Votre mot de passe a été saisi correctement, puis de très nombreux codes ou "
            "vérifications biométriques incorrects. Par sécurité, la connexion à votre compte "
            f"est bloquée pendant {hours} heures.",
            "Si ce n'était pas vous, votre mot de passe est connu d'une autre personne : "
            "changez-le dès que vous pourrez vous connecter, ou faites-vous aider par votre Caf "
            "ou un espace France Services.",
            _WARNING.replace("ce code", "votre code"),
        ],
    )


def password_change_locked(minutes: int) -> MailMessage:
    return _render(
        "Changement de mot de passe bloqué temporairement",
        [
            "Plusieurs mots de passe actuels incorrects ont été saisis pour changer le mot de "
            f"passe de votre compte. Par sécurité, ce changement est bloqué pendant {minutes} "
            "minutes.",
            _NOT_YOU,
        ],
    )


def authenticator_removed(name: str, at: datetime) -> MailMessage:
    return _render(
        "Un appareil a été retiré de votre compte",
        [
            f"L'appareil « {name} » a été retiré de votre espace Mon Compte le {_paris(at)}. "
            "Il ne peut plus servir à vous connecter, et les connexions ouvertes avec lui ont "
            "été fermées.",
            _NOT_YOU,
        ],
    )


def franceconnect_linked(at: datetime) -> MailMessage:
    return _render(
        "FranceConnect a été associé à votre compte",
        [
            f"Le {_paris(at)}, votre espace Mon Compte a été associé à votre identité "
            "FranceConnect. Vous pouvez désormais vous connecter avec le bouton "
            "« S'identifier avec FranceConnect », sans mot de passe ni code.",
            "Si c'était vous, vous n'avez rien à faire.",
            "Si ce n'était pas vous, retirez FranceConnect depuis le menu « Gérer mon compte », "
            "puis changez votre mot de passe.",
        ],
    )


def mandate_granted(
    name: str, organisation: str, scopes: list[str], until: str, at: datetime
) -> MailMessage:
    return _render(
        "Vous avez donné un mandat à un aidant",
        [
            f"Le {_paris(at)}, vous avez autorisé {name} ({organisation}) à "
            f"{scopes_sentence(scopes)} pour vous, jusqu'au {until}.",
            "Cette personne utilise son propre compte d'aidant : elle ne connaît ni votre mot "
            "de passe ni vos codes, et ne peut pas les modifier. Chacune de ses connexions "
            "apparaît dans « Mon activité ».",
            "Vous pouvez retirer ce mandat à tout moment depuis « Gérer mon compte », "
            "rubrique « Mes aidants ».",
            "Si ce n'était pas vous, retirez ce mandat tout de suite, puis changez votre mot "
            "de passe.",
        ],
    )


def franceconnect_unlinked(at: datetime) -> MailMessage:
    return _render(
        "FranceConnect a été retiré de votre compte",
        [
            f"Le {_paris(at)}, FranceConnect a été retiré de votre espace Mon Compte. Il ne "
            "peut plus servir à vous connecter, et les connexions ouvertes avec lui ont été "
            "fermées.",
            _NOT_YOU,
        ],
    )


def mediator_password_changed(at: datetime) -> MailMessage:
    return _render(
        "Votre mot de passe d'aidant a été modifié",
        [
            f"Le mot de passe de votre espace aidant Mon Compte a été modifié le {_paris(at)}.",
            "Par sécurité, vos autres connexions ont été fermées.",
            "Si vous n'êtes pas à l'origine de ce changement, prévenez tout de suite votre "
            "référent : votre compte d'aidant sera suspendu.",
        ],
    )


def franceconnect_identity_changed(at: datetime) -> MailMessage:
    return _render(
        "Connexion avec FranceConnect refusée",
        [
            f"Le {_paris(at)}, une connexion à votre espace Mon Compte avec FranceConnect a été "
            "refusée : l'identité transmise par FranceConnect ne correspond plus à celle "
            "associée à votre compte.",
            "Si vos informations d'état civil ont changé, connectez-vous avec votre numéro de "
            "sécurité sociale et votre mot de passe, puis associez à nouveau FranceConnect "
            "depuis le menu « Gérer mon compte ».",
            _NOT_YOU,
        ],
    )


def mediator_locked(minutes: int) -> MailMessage:
    return _render(
        "Connexion à votre espace aidant bloquée temporairement",
        [
            "Plusieurs mots de passe ou codes incorrects ont été saisis pour votre compte "
            f"d'aidant. Par sécurité, la connexion est bloquée pendant {minutes} minutes.",
            "Si ce n'était pas vous, prévenez votre référent.",
        ],
    )


# --- contacts and the trusted person ----------------------------------------------------

# What each kind of contact is called in a sentence and in a subject, and its gender.
_CONTACT = {
    "email": ("votre adresse électronique", "Adresse électronique", "e"),
    "phone": ("votre numéro de mobile", "Numéro de mobile", ""),
    "trusted_email": ("votre personne de confiance", "Personne de confiance", "e"),
}
_CONTACT_NOT_YOU = (
    "Si ce n'était pas vous, quelqu'un a peut-être accès à votre compte : connectez-vous, "
    "remettez vos coordonnées dans « Gérer mon compte », puis changez votre mot de passe. "
    "Vous pouvez aussi vous faire aider par votre Caf ou un espace France Services. " + _ACT_NOW
)
_TRUSTED_WARNING = (
    "Ne donnez ce code qu'à cette personne, et seulement si elle vous le demande. Un "
    "conseiller de la Caf ne vous le demandera jamais."
)


def contact_code(code: str, ttl_seconds: int) -> MailMessage:
    """The code proving that a new address is the holder's."""
    minutes = max(1, ttl_seconds // 60)
    return _render(
        "Votre code pour confirmer votre adresse électronique",
        [
            "Pour enregistrer cette adresse sur votre espace Mon Compte, saisissez ce code :",
            f"Ce code est valable {minutes} minutes et ne peut servir qu'une seule fois. "
            "Votre adresse ne sera enregistrée qu'une fois le code saisi.",
            _WARNING,
            "Si vous n'avez rien demandé, ne faites rien : votre adresse ne sera pas utilisée.",
        ],
        highlight=code,
    )


def contact_notice(kind: str, change: str, hint: str, at: datetime) -> MailMessage:
    """Tell the holder (or the previous address) that a contact was added, changed, removed.

    ``change`` is ``added``, ``changed`` (``hint`` is then the new value) or ``removed``.
    """
    what, title, e = _CONTACT[kind]
    subject, sentence = {
        "added": (
            f"{title} ajouté{e} à votre compte",
            f"{what} ({hint}) a été ajouté{e} à votre espace Mon Compte.",
        ),
        "changed": (
            f"{title} modifié{e} sur votre compte",
            f"{what} a été modifié{e} sur votre espace Mon Compte : c'est désormais {hint}.",
        ),
        "removed": (
            f"{title} retiré{e} de votre compte",
            f"{what} ({hint}) a été retiré{e} de votre espace Mon Compte.",
        ),
    }[change]
    return _render(
        subject,
        [
            f"Le {_paris(at)}, {sentence}",
            "Si c'était vous, vous n'avez rien à faire.",
            _CONTACT_NOT_YOU,
        ],
    )


def _trusted_greeting(name: str | None) -> str:
    return f"Bonjour {name}," if name else "Bonjour,"


def trusted_person_code(code: str, ttl_seconds: int, nir_masked: str, name: str) -> MailMessage:
    """The code a would-be trusted person passes on to the holder, proving both agree."""
    minutes = max(1, ttl_seconds // 60)
    return _render(
        "Votre code pour devenir personne de confiance d'un compte Caf",
        [
            "Une personne vous choisit comme personne de confiance pour le compte Caf de "
            f"{nir_masked} (numéro de sécurité sociale masqué). Si vous êtes d'accord, donnez-"
            "lui ce code :",
            f"Ce code est valable {minutes} minutes. Une fois qu'elle l'aura saisi, vous pourrez "
            "recevoir à sa demande ses codes de connexion, pour les lui transmettre.",
            _TRUSTED_WARNING,
            "Si vous ne connaissez pas cette personne ou n'êtes pas d'accord, ne faites rien : "
            "votre adresse ne sera pas enregistrée.",
        ],
        highlight=code,
        greeting=_trusted_greeting(name),
    )


def trusted_sign_in_code(
    code: str, ttl_seconds: int, nir_masked: str, name: str | None
) -> MailMessage:
    """A sign-in code sent to the trusted person, for the holder only."""
    minutes = max(1, ttl_seconds // 60)
    return _render(
        "Un code de connexion Mon Compte à transmettre",
        [
            f"Voici le code de connexion pour le compte Caf de {nir_masked} (numéro de "
            "sécurité sociale masqué), dont vous êtes la personne de confiance :",
            f"Ce code est valable {minutes} minutes et ne peut servir qu'une seule fois.",
            _TRUSTED_WARNING,
            "Si cette personne ne vous a rien demandé, ne transmettez pas ce code et prévenez-la.",
        ],
        highlight=code,
        greeting=_trusted_greeting(name),
    )


def trusted_person_notice(added: bool, nir_masked: str, name: str | None) -> MailMessage:
    """Tell a trusted person they have become, or are no longer, the one codes go to."""
    if added:
        subject = "Vous êtes personne de confiance d'un compte Caf"
        paragraphs = [
            f"Vous êtes désormais la personne de confiance du compte Caf de {nir_masked} "
            "(numéro de sécurité sociale masqué) : à sa demande, ses codes de connexion "
            "pourront vous être envoyés pour que vous les lui transmettiez.",
            _TRUSTED_WARNING,
        ]
    else:
        subject = "Vous n'êtes plus personne de confiance d'un compte Caf"
        paragraphs = [
            f"Vous n'êtes plus la personne de confiance du compte Caf de {nir_masked} "
            "(numéro de sécurité sociale masqué) : aucun code de connexion ne vous sera plus "
            "envoyé pour ce compte.",
            "Si vous recevez encore un code pour ce compte, ne le transmettez à personne.",
        ]
    return _render(subject, paragraphs, greeting=_trusted_greeting(name))


# --- recovery: « Mot de passe oublié » and the counter ---------------------------------


def recovery_code(code: str, ttl_seconds: int) -> MailMessage:
    """The code of a « Mot de passe oublié »."""
    minutes = max(1, ttl_seconds // 60)
    return _render(
        "Réinitialisation de votre mot de passe",
        [
            "Voici votre code pour choisir un nouveau mot de passe pour votre espace Mon Compte :",
            f"Ce code est valable {minutes} minutes et ne peut servir qu'une seule fois.",
            _WARNING,
            "Si vous n'avez rien demandé, ne faites rien : votre mot de passe ne change pas.",
        ],
        highlight=code,
    )


def _devices_paragraph(authenticators: list[str]) -> str:
    if not authenticators:
        return "Aucun appareil n'est associé à votre compte pour la connexion biométrique."
    names = ", ".join(f"« {name} »" for name in authenticators)
    return (
        "Vos appareils associés pour la connexion biométrique restent actifs : "
        f"{names}. Si l'un d'eux n'est plus à vous (téléphone perdu, vendu ou volé), "
        "retirez-le : connectez-vous, menu « Gérer mon compte », « Connexion biométrique », "
        "puis « Retirer » à côté de son nom."
    )


def password_recovered(at: datetime, authenticators: list[str], how: str) -> MailMessage:
    """Tell the holder that their password was reset (``how``: by a code, at the counter)."""
    return _render(
        "Votre mot de passe Mon Compte a été réinitialisé",
        [
            f"Le {_paris(at)}, un nouveau mot de passe a été choisi pour votre espace "
            f"Mon Compte {how}.",
            "Par sécurité, toutes les connexions ouvertes à votre compte ont été fermées.",
            _devices_paragraph(authenticators),
            "Si ce n'était pas vous, contactez votre Caf au plus vite, ou rendez-vous dans un "
            "espace France Services avec une pièce d'identité.",
        ],
    )


def counter_contact_replaced(kind: str, hint: str, at: datetime) -> MailMessage:
    """Tell a previous address or number that the counter recovery replaced it."""
    what, _title, e = _CONTACT[kind]
    return _render(
        "Vos coordonnées Mon Compte ont été modifiées",
        [
            f"Le {_paris(at)}, avec un code remis au guichet de la Caf après vérification de "
            f"l'identité, {what} de votre espace Mon Compte a été remplacé{e} : "
            f"c'est désormais {hint}.",
            "Si ce n'était pas vous, contactez votre Caf au plus vite.",
        ],
    )
