"""The HTTP adapter toolkit: parse a body, authenticate, dump a response.

``@endpoint`` is the only place where requests are read: it enforces JSON, validates the
body against a marshmallow schema, resolves the bearer token of the expected kind, runs
the view as one unit of work (see :mod:`api.uow`), and records what it did for the
OpenAPI description.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Protocol

from flask import Response, jsonify, request
from marshmallow import Schema
from marshmallow import ValidationError as SchemaError

from .errors import (
    ApiError,
    InvalidJson,
    NotFound,
    TokenExpired,
    TokenInvalid,
    UnsupportedMediaType,
    ValidationError,
)
from .infra.client import ClientInfo
from .uow import unit_of_work

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# What any endpoint behind an access token may answer.
ACCESS_ERRORS = [TokenInvalid, TokenExpired]


def client_info() -> ClientInfo:
    return ClientInfo.of(request.remote_addr, request.headers.get("User-Agent"))


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 4096:
        raise TokenInvalid("Vous devez être connecté pour faire cette action.")
    return token


class Credential(Protocol):
    """What a bearer token stands for: a login flow, a signed-in principal, a refresh grant.

    A credential may also list, as ``errors``, the problems it answers by itself (a
    delegated token where the holder in person is required, say): they are added to the
    endpoint's documented errors.
    """

    security_scheme: ClassVar[str]  # the OpenAPI security scheme
    argument: ClassVar[str]  # the view's keyword argument that receives it

    @classmethod
    def from_bearer(cls, token: str) -> Credential: ...


def parse_body(schema: Schema) -> dict[str, Any]:
    """Load the JSON body with ``schema``; raise a 4xx problem on anything else."""
    if not request.is_json:
        raise UnsupportedMediaType()
    payload = request.get_json(silent=True)
    if payload is None or _has_lone_surrogate(payload):
        raise InvalidJson()
    try:
        return schema.load(payload)
    except SchemaError as exc:
        messages = exc.messages
        if isinstance(messages, list):
            messages = {"_schema": messages}
        raise ValidationError(errors=_flatten(messages)) from None


def parse_query(schema: Schema) -> dict[str, Any]:
    """Load the query string with ``schema`` (one value per name); a 400 problem otherwise."""
    try:
        return schema.load(request.args.to_dict(flat=True))
    except SchemaError as exc:
        raise ValidationError(errors=_flatten(exc.messages)) from None


def _flatten(messages: dict) -> dict[str, list[str]]:
    flat: dict[str, list[str]] = {}
    for field, value in messages.items():
        if isinstance(value, dict):
            for sub, sub_value in _flatten(value).items():
                flat[f"{field}.{sub}"] = sub_value
        else:
            flat[str(field)] = [str(v) for v in value]
    return flat


def endpoint(
    *,
    summary: str,
    body: type[Schema] | None = None,
    optional_body: bool = False,
    response: type[Schema] | None = None,
    status: int = 200,
    requires: type[Credential] | None = None,
    errors: Iterable[type[ApiError]] = (),
    tag: str = "auth",
    raw_body: bool | type[Schema] = False,
    query: list[dict[str, Any]] | None = None,
    args: type[Schema] | None = None,
    also: dict[int, type[Schema] | None] | None = None,
) -> Callable:
    """Declare an API view: its input, output, the credential it requires, its errors.

    ``args`` is the schema of the query string (the view receives ``args``); ``also``
    documents other successful answers the view returns itself as a ``Response``. With
    ``optional_body``, a request without a body reads as an empty JSON object.
    """

    # Schemas are built once per endpoint, not per request: they hold no request state.
    body_schema = body() if body is not None else None
    args_schema = args() if args is not None else None
    response_schema = response() if response is not None else None

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(**kwargs: Any) -> Any:
            with unit_of_work():
                result = _run(view, kwargs)
                if isinstance(result, Response):
                    return result
                # Dumped inside the unit of work: what the schema reads lazily is read in
                # the request's own transaction.
                payload = None if response_schema is None else response_schema.dump(result)
            if payload is None:
                return Response(status=status)
            return jsonify(payload), status

        def _run(view: Callable, kwargs: dict[str, Any]) -> Any:
            path_values = list(kwargs.values())
            if requires is not None:
                kwargs[requires.argument] = requires.from_bearer(bearer_token())
            # An identifier in the path with a control character (NUL included, which
            # PostgreSQL refuses in any string) names nothing: 404, never a 500.
            if any(_CONTROL.search(value) for value in path_values if isinstance(value, str)):
                raise NotFound()
            if args_schema is not None:
                kwargs["args"] = parse_query(args_schema)
            if body_schema is not None:
                empty = optional_body and not request.get_data(cache=True)
                kwargs["data"] = body_schema.load({}) if empty else parse_body(body_schema)
            elif raw_body:
                kwargs["data"] = _raw_json()
            return view(**kwargs)

        wrapper.api_doc = {  # type: ignore[attr-defined]
            "summary": summary,
            "body": body,
            "optional_body": optional_body,
            "raw_body": raw_body,
            "response": response,
            "status": status,
            "requires": requires,
            "errors": [*errors, *getattr(requires, "errors", ())],
            "tag": tag,
            "query": query or [],
            "args": args,
            "also": also or {},
        }
        return wrapper

    return decorator


def _raw_json() -> dict[str, Any]:
    if not request.is_json:
        raise UnsupportedMediaType()
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or _has_lone_surrogate(payload):
        raise InvalidJson()
    return payload


def _has_lone_surrogate(value: Any) -> bool:
    """Tell whether a parsed JSON value holds a string that is not valid Unicode.

    JSON lets ``"\\ud800"`` through, but such a string cannot be encoded (to hash a
    password, to MAC a code, to store a row): refused here, it is a 400, never a 500.
    """
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(item) for item in value)
    return False
