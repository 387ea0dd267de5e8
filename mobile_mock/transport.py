"""How the simulated app reaches the service: real HTTP, or a Flask test client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import requests


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


class Transport(Protocol):
    def request(
        self, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None
    ) -> Reply: ...

    def navigate(self, path: str) -> Reply:
        """GET a page as a browser would, without following its redirect."""


class HttpTransport:
    """Talk to a running service over HTTP(S)."""

    def __init__(self, base_url: str, *, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers["User-Agent"] = "mobile-mock/1.0 (Caf app simulator)"

    def request(self, method, path, *, json=None, headers=None) -> Reply:
        response = self._session.request(
            method, self.base_url + path, json=json, headers=headers, timeout=self.timeout
        )
        return _reply(response)

    def navigate(self, path: str) -> Reply:
        response = self._session.get(
            self.base_url + path, allow_redirects=False, timeout=self.timeout
        )
        return _reply(response)


def _reply(response: requests.Response) -> Reply:
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = response.text
    return Reply(response.status_code, dict(response.headers), body)


class FlaskTransport:
    """Drive an app in-process through its test client (for the project's own tests)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def request(self, method, path, *, json=None, headers=None) -> Reply:
        headers = {"User-Agent": "mobile-mock/1.0 (Caf app simulator)", **(headers or {})}
        response = self.client.open(path, method=method, json=json, headers=headers)
        body = response.get_json(silent=True) if response.data else None
        return Reply(response.status_code, dict(response.headers), body)

    def navigate(self, path: str) -> Reply:
        response = self.client.get(path, headers={"User-Agent": "mobile-mock/1.0 (browser)"})
        body = response.get_json(silent=True) if response.data else None
        return Reply(response.status_code, dict(response.headers), body)
