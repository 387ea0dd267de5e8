"""FranceConnect+ as the app meets it: PKCE, the provider's pages, the hand-off.

The app opens ``/auth/franceconnect/start`` in the phone's browser (a Custom Tab or an
``ASWebAuthenticationSession``) with a PKCE challenge; the person signs in at their
identity provider; the browser comes back to the app link with ``?handoff=`` (or
``?error=``), and the app completes it with its verifier.

:class:`ProviderBrowser` plays that browser, and the person in it, against the local
stand-in of FranceConnect+ (``tests/oidc_provider``, panva's oidc-provider): its login
page is a form asking for an identity and the level of assurance, its sign-out page a
confirmation form. Pages of the service go through the app's transport, the provider's
pages over HTTP, and no redirect is followed blindly: the browser stops at the app link.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests

from .transport import Reply, Transport

START = "/api/v1/auth/franceconnect/start"
MAX_REDIRECTS = 20
_AUTO_SUBMIT = "document.forms[0].submit()"


class BrowserError(RuntimeError):
    """The provider's pages did not go as the local stand-in's should."""


def new_verifier() -> str:
    """Return a PKCE code verifier: 43 characters, 256 random bits (RFC 7636)."""
    return secrets.token_urlsafe(32)


def challenge_of(verifier: str) -> str:
    """Return the S256 challenge of ``verifier``."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class Returned:
    """Where the browser came back to the app: a hand-off, or an error."""

    url: str
    handoff: str | None
    error: str | None


@dataclass
class _Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(_Form(values.get("action", ""), values.get("method", "get").lower()))
        elif tag == "input" and self.forms and values.get("name"):
            self.forms[-1].fields[values["name"]] = values.get("value", "")


def _forms(html: str) -> list[_Form]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


class ProviderBrowser:
    """The phone's browser during a FranceConnect+ sign-in or sign-out."""

    def __init__(self, transport: Transport, *, timeout: float = 60.0) -> None:
        self.transport = transport
        self.timeout = timeout
        self.web = requests.Session()  # the provider's cookies live here
        self.web.headers["User-Agent"] = "mobile-mock/1.0 (Caf app simulator; browser)"

    # --- a sign-in ------------------------------------------------------------------------

    def start(self, *, return_to: str, challenge: str) -> str:
        """Open the service's start URL; return the provider's URL it redirects to."""
        query = urlencode({"return_to": return_to, "code_challenge": challenge})
        reply = self._get(f"{START}?{query}")
        if reply.status != 302:
            raise _refusal(reply)
        return reply.headers["Location"]

    def sign_in(self, provider_url: str, *, identity: str, acr: str, return_to: str) -> Returned:
        """Sign in at the provider as ``identity`` with ``acr``; follow back to the app link."""
        page = self._until_page(provider_url, return_to)
        if isinstance(page, Returned):
            return page
        url, html = page
        login = self._form(html, "/login")
        login.fields.update({"login": identity, "acr": acr})
        return self._submit(url, login, return_to)

    def cancel(self, provider_url: str, *, return_to: str) -> Returned:
        """Press « Annuler » at the provider: it sends the person back with an error."""
        page = self._until_page(provider_url, return_to)
        if isinstance(page, Returned):
            return page
        url, html = page
        return self._submit(url, self._form(html, "/abort"), return_to)

    # --- a sign-out -----------------------------------------------------------------------

    def sign_out(self, logout_url: str, *, return_to: str) -> Returned:
        """Open the provider's sign-out URL and confirm; return where it sends the person."""
        page = self._until_page(logout_url, return_to)
        if isinstance(page, Returned):
            return page
        url, html = page
        confirm = self._form(html, "/session/end/confirm")
        confirm.fields["logout"] = "yes"
        return self._submit(url, confirm, return_to)

    # --- plumbing -------------------------------------------------------------------------

    def _until_page(self, url: str, return_to: str) -> tuple[str, str] | Returned:
        """Follow redirects from ``url`` to a page, or back to the app link.

        A page that only submits its form by script (the provider ending the previous
        person's session) is submitted, as the browser would.
        """
        for _ in range(MAX_REDIRECTS):
            if _is_return(url, return_to):
                return _returned(url)
            reply = self._get(url)
            if reply.status in (301, 302, 303, 307, 308):
                url = urljoin(url, reply.headers["Location"])
                continue
            if reply.status != 200:
                raise _refusal(reply)
            html = reply.body if isinstance(reply.body, str) else str(reply.body)
            if _AUTO_SUBMIT not in html:
                return url, html
            form = _forms(html)[0]
            response = self.web.post(
                urljoin(url, form.action),
                data=form.fields,
                allow_redirects=False,
                timeout=self.timeout,
            )
            if response.status_code not in (302, 303):
                raise BrowserError(f"the provider answered {response.status_code}")
            url = urljoin(url, response.headers["Location"])
        raise BrowserError("too many redirects")

    def _submit(self, page_url: str, form: _Form, return_to: str) -> Returned:
        action = urljoin(page_url, form.action)
        response = self.web.post(
            action, data=form.fields, allow_redirects=False, timeout=self.timeout
        )
        if response.status_code not in (302, 303):
            raise BrowserError(
                f"the provider answered {response.status_code}: {response.text[:200]}"
            )
        result = self._until_page(urljoin(action, response.headers["Location"]), return_to)
        if not isinstance(result, Returned):
            raise BrowserError(f"the browser stopped at {result[0]} instead of the app")
        return result

    def _form(self, html: str, action_suffix: str) -> _Form:
        for form in _forms(html):
            if form.action.split("?")[0].endswith(action_suffix):
                return form
        raise BrowserError(f"no {action_suffix} form on the provider's page")

    def _get(self, url: str) -> Reply:
        parts = urlsplit(url)
        if not parts.netloc or parts.path.startswith("/api/v1/"):
            # The service's own pages (start, callback) go through the app's transport.
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            return self.transport.navigate(path)
        response = self.web.get(url, allow_redirects=False, timeout=self.timeout)
        return Reply(response.status_code, dict(response.headers), response.text)


def _is_return(url: str, return_to: str) -> bool:
    """Whether ``url`` is the app link (or page) the service sends the person back to."""
    return url.split("?")[0] == return_to.split("?")[0]


def _returned(url: str) -> Returned:
    query = parse_qs(urlsplit(url).query)
    return Returned(
        url=url,
        handoff=query.get("handoff", [None])[0],
        error=query.get("error", [None])[0],
    )


class ServiceRefused(RuntimeError):
    """The service answered a page of the flow with a problem."""

    def __init__(self, status: int, body: Any) -> None:
        body = body if isinstance(body, dict) else {}
        self.status = status
        self.body = body
        super().__init__(f"{status} {body.get('code', '')}")


def _refusal(reply: Reply) -> Exception:
    if isinstance(reply.body, dict):
        return ServiceRefused(reply.status, reply.body)
    return BrowserError(f"unexpected answer {reply.status}: {str(reply.body)[:200]}")
