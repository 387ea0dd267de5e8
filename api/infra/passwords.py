"""Password hashing (argon2id) and the policy for new passwords.

Parameters follow OWASP's argon2id minimum (m=19456 KiB, t=2, p=1). Input is
NFKC-normalised (NIST SP 800-63B) and length-capped before hashing, never truncated:
an over-long password is refused, so hashing cost stays bounded. The cap holds for the
text as typed and once normalised: NFKC expands some characters ('ﷺ' gives 18), and
sign-in refuses a typed form over the cap.
"""

from __future__ import annotations

import os
import re
import threading
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from ..config import settings
from ..errors import WeakPassword

MIN_LENGTH = 8
MAX_LENGTH = 256
CONTEXT_WORDS = ("caf", "moncompte", "mon compte", "allocataire", "allocataires")


def normalize(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def _normalized_within_cap(password: str) -> str | None:
    """Return the NFKC form of ``password``, or None when either form is over the cap."""
    if len(password) > MAX_LENGTH:  # checked first: bounds the work of normalising
        return None
    normalized = normalize(password)
    return normalized if len(normalized) <= MAX_LENGTH else None


def _too_long() -> WeakPassword:
    return WeakPassword(
        f"Votre mot de passe ne doit pas dépasser {MAX_LENGTH} caractères.", reason="too_long"
    )


def _hasher() -> PasswordHasher:
    config = settings()
    return _hasher_for(config.ARGON2_TIME_COST, config.ARGON2_MEMORY_KIB, config.ARGON2_PARALLELISM)


@cache
def _hasher_for(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(
        time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
    )


_executors: dict[tuple[int, int], ThreadPoolExecutor] = {}
_executors_lock = threading.Lock()


def _run_hashing(function, *args):
    """Run an argon2id computation on this process's hashing thread(s), and wait for it.

    Each hash works in 19 MiB. Run from whatever request thread happens to call it, glibc
    would keep one such block in every thread's arena (a worker with 4 threads grows by
    ~60 MB), or, with a shared arena, fragment it. A dedicated thread keeps a single block
    in its own arena and reuses it. With one worker process per core, one hash at a time
    per process (ARGON2_MAX_CONCURRENCY=1) already keeps every core busy.
    """
    key = (os.getpid(), settings().ARGON2_MAX_CONCURRENCY)  # per process: fork-safe
    executor = _executors.get(key)
    if executor is None:
        with _executors_lock:
            executor = _executors.setdefault(
                key, ThreadPoolExecutor(max_workers=key[1], thread_name_prefix="argon2")
            )
    return executor.submit(function, *args).result()


def hash_password(password: str) -> str:
    """Return the argon2id hash of ``password``; raise WeakPassword when over the cap."""
    normalized = _normalized_within_cap(password)
    if normalized is None:
        raise _too_long()
    return _run_hashing(_hasher().hash, normalized)


def verify_password(password_hash: str, password: str) -> bool:
    """Check ``password`` against ``password_hash``; never raises on a mismatch.

    A password over the cap cannot match any stored hash: it is wrong, and argon2id never
    runs on it.
    """
    normalized = _normalized_within_cap(password)
    if normalized is None:
        return False
    try:
        return _run_hashing(_hasher().verify, password_hash, normalized)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


def burn_verify_time(password: str) -> None:
    """Spend the time of one real verification, so unknown accounts answer as fast as known ones."""
    verify_password(_dummy_hash(), password)


def _dummy_hash() -> str:
    config = settings()
    key = (config.ARGON2_TIME_COST, config.ARGON2_MEMORY_KIB, config.ARGON2_PARALLELISM)
    return _dummy_hash_for(*key)


@cache
def _dummy_hash_for(time_cost: int, memory_kib: int, parallelism: int) -> str:
    return _hasher_for(time_cost, memory_kib, parallelism).hash("dummy password, never valid")


@cache
def common_passwords() -> frozenset[str]:
    """Load the shipped list of commonly used passwords."""
    text = resources.files("api").joinpath("data/common-passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower()
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )


def check_new_password(password: str, *, nir: str | None = None) -> None:
    """Raise :class:`WeakPassword` with a French reason when ``password`` is unfit.

    No composition rules (NIST SP 800-63B): only length, a list of known passwords
    and words tied to this service or this person.
    """
    normalized = normalize(password)
    if len(normalized) < MIN_LENGTH:
        raise WeakPassword(
            f"Votre mot de passe doit contenir au moins {MIN_LENGTH} caractères.",
            reason="too_short",
        )
    if _normalized_within_cap(password) is None:
        raise _too_long()
    lowered = normalized.lower()
    compact = re.sub(r"\s+", "", lowered)
    if nir and (nir.lower() in compact or nir[:7].lower() in compact):
        raise WeakPassword(
            "Votre mot de passe ne doit pas contenir votre numéro de sécurité sociale.",
            reason="contains_nir",
        )
    letters = re.sub(r"[^a-zà-ÿ]", "", compact)
    if any(word.replace(" ", "") == letters for word in CONTEXT_WORDS) or "moncompte" in compact:
        raise WeakPassword(
            "Votre mot de passe ne doit pas reprendre le nom du service (Caf, Mon Compte).",
            reason="context_word",
        )
    if compact in common_passwords() or letters in common_passwords():
        raise WeakPassword(
            "Ce mot de passe est trop courant et facile à deviner. Choisissez-en un autre.",
            reason="common",
        )
    if len(set(compact)) < 3:
        raise WeakPassword(
            "Votre mot de passe répète trop les mêmes caractères.", reason="repetitive"
        )
