"""The French SMS the service sends: one GSM-7 segment each, checked.

An SMS of at most 160 characters is one segment only if every character is in the GSM
03.38 basic set; a single other character (« ç », « ê », the typographic apostrophe
« ’ ») switches the whole message to UCS-2, where a segment holds 70 characters, and
the message is split, costs more and may arrive in pieces. Every text is therefore
checked by :func:`checked` before it is queued, and notices built from mail subjects
are folded into the set first.
"""

from __future__ import annotations

import unicodedata

# GSM 03.38 basic character set (3GPP TS 23.038 §6.2.1), without the escape to the
# extension table, whose characters count twice. Capital Ç is in it; small ç is not.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
MAX_LENGTH = 160

_WARNING = "Aucun conseiller Caf ne vous le demandera : ne le donnez à personne."


class NotOneSegment(ValueError):
    """The text would not travel as one GSM-7 SMS segment."""


def checked(text: str) -> str:
    """Return ``text`` if it fits one GSM-7 segment; raise :class:`NotOneSegment` otherwise."""
    outside = sorted({ch for ch in text if ch not in GSM7_BASIC})
    if outside:
        raise NotOneSegment(f"characters outside the GSM-7 basic set: {''.join(outside)!r}")
    if len(text) > MAX_LENGTH:
        raise NotOneSegment(f"{len(text)} characters, more than {MAX_LENGTH}")
    return text


def fold(text: str) -> str:
    """Replace the characters outside the GSM-7 basic set by their nearest letter in it.

    « ê » becomes « e », « ç » « c », the typographic apostrophe a straight one, « œ »
    « oe »; é, è, à and ù, which the set has, stay.
    """
    replacements = {"’": "'", "‘": "'", "«": '"', "»": '"', "œ": "oe", "Œ": "OE", "…": "..."}
    out = []
    for ch in text:
        if ch in GSM7_BASIC:
            out.append(ch)
        elif ch in replacements:
            out.append(replacements[ch])
        elif ch in "\u00a0\u202f":  # French no-break spaces before « : » and « ! »
            out.append(" ")
        else:
            base = unicodedata.normalize("NFD", ch)[0]
            out.append(base if base in GSM7_BASIC else "?")
    return "".join(out)


def _minutes(ttl_seconds: int) -> int:
    return max(1, ttl_seconds // 60)


def sign_in_code(code: str, ttl_seconds: int) -> str:
    """The sign-in code: the code first, so that a phone shows it in the notification."""
    return checked(
        f"{code} est votre code de connexion à Mon Compte Caf, valable "
        f"{_minutes(ttl_seconds)} minutes. {_WARNING}"
    )


def contact_code(code: str, ttl_seconds: int) -> str:
    """The code that proves a new number is the holder's, asked from « Gérer mon compte »."""
    return checked(
        f"{code} : code pour enregistrer ce numéro sur Mon Compte Caf, valable "
        f"{_minutes(ttl_seconds)} minutes. {_WARNING}"
    )


def recovery_code(code: str, ttl_seconds: int) -> str:
    """The code of a « Mot de passe oublié »: the code first, for the phone's notification."""
    return checked(
        f"{code} : code pour changer votre mot de passe Mon Compte Caf, valable "
        f"{_minutes(ttl_seconds)} minutes. {_WARNING}"
    )


def notice(subject: str) -> str:
    """A security notice for a holder reached by SMS: what happened and what to do.

    Built from the subject of the matching email, folded into the GSM-7 set.
    """
    return checked(
        fold(
            f"Mon Compte Caf : {subject}. Détails dans Mon activité. "
            "Si ce n'était pas vous, contactez votre Caf."
        )
    )
