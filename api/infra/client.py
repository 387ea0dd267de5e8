"""Who is calling: the network facts recorded with every security event."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClientInfo:
    ip: str | None = None
    user_agent: str | None = None

    @classmethod
    def of(cls, ip: str | None, user_agent: str | None) -> ClientInfo:
        return cls(ip=(ip or None), user_agent=(user_agent or "")[:256] or None)
