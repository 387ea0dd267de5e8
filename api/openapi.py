"""The OpenAPI 3 description, generated from the ``@endpoint`` declarations."""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask

from . import errors as api_errors
from .schemas import Problem

# Any endpoint that reads a body may answer these.
_BODY_ERRORS = [
    api_errors.InvalidJson,
    api_errors.UnsupportedMediaType,
    api_errors.PayloadTooLarge,
]


def build_spec(app: Flask) -> dict[str, Any]:
    """Return the app's OpenAPI document, built once per app."""
    if "openapi" not in app.extensions:
        app.extensions["openapi"] = _build(app)
    return app.extensions["openapi"]


def _build(app: Flask) -> dict[str, Any]:
    spec = APISpec(
        title="Caf - Mon Compte: authentification",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": "Sign-in API of the Caf « Mon Compte » app. Every error is "
            "application/problem+json with a stable `code`."
        },
    )
    spec.components.schema("Problem", schema=Problem)
    for name, description in (
        ("mfaToken", "Opaque token from POST /auth/login, for the second factor only."),
        ("accessToken", "JWT access token from a completed sign-in."),
        ("refreshToken", "Opaque refresh token, single use, for POST /auth/refresh only."),
        ("mediatorToken", "JWT access token of a mediator (aud mediator), for /mediator only."),
        (
            "recoveryToken",
            "Opaque token from POST /auth/recovery, for POST /auth/recovery/verify only.",
        ),
        (
            "passkeyToken",
            "Opaque token from POST /auth/passkey/options, for POST /auth/passkey/verify only.",
        ),
    ):
        spec.components.security_scheme(
            name, {"type": "http", "scheme": "bearer", "description": description}
        )
    with app.app_context():
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            view = app.view_functions[rule.endpoint]
            doc = getattr(view, "api_doc", None)
            if doc is None:
                continue
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            operations = {}
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                operations[method.lower()] = _operation(doc, rule)
            spec.path(
                path=path,
                operations=operations,
                parameters=[
                    {"in": "path", "name": arg, "required": True, "schema": _path_schema(rule, arg)}
                    for arg in sorted(rule.arguments)
                ],
            )
    return spec.to_dict()


def _path_schema(rule: Any, argument: str) -> dict[str, Any]:
    """A path argument's schema; ``<any(a, b):name>`` is an enum of its values."""
    items = getattr(rule._converters.get(argument), "items", None)
    if items:
        return {"type": "string", "enum": sorted(items)}
    return {"type": "string"}


def _operation(doc: dict[str, Any], rule: Any) -> dict[str, Any]:
    success: dict[str, Any] = {"description": "Succès"}
    if doc["response"] is not None:
        success["content"] = {"application/json": {"schema": doc["response"]}}
    responses: dict[str, Any] = {str(doc["status"]): success}
    for status, schema in doc["also"].items():
        responses[str(status)] = {"description": "Succès"}
        if schema is not None:
            responses[str(status)]["content"] = {"application/json": {"schema": schema}}
    by_status: dict[int, list[str]] = {}
    errors = list(doc["errors"])
    if doc["body"] is not None or doc["raw_body"]:
        errors += _BODY_ERRORS
    for error in errors:
        by_status.setdefault(error.status, []).append(error.code)
    for status, status_codes in sorted(by_status.items()):
        responses[str(status)] = {
            "description": "Problème : " + ", ".join(f"`{c}`" for c in sorted(set(status_codes))),
            "content": {"application/problem+json": {"schema": "Problem"}},
        }
    operation: dict[str, Any] = {
        "summary": doc["summary"],
        "tags": [doc["tag"]],
        "operationId": rule.endpoint.replace(".", "_"),
        "responses": responses,
    }
    if doc["body"] is not None:
        operation["requestBody"] = {
            "required": not doc["optional_body"],
            "content": {"application/json": {"schema": doc["body"]}},
        }
    elif doc["raw_body"]:
        # A body passed through whole (a WebAuthn response): documented by its own schema.
        body_schema = doc["raw_body"] if doc["raw_body"] is not True else {"type": "object"}
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body_schema}},
        }
    if doc["query"]:
        operation["parameters"] = [{"in": "query", **param} for param in doc["query"]]
    if doc["args"] is not None:
        operation["parameters"] = [{"in": "query", "schema": doc["args"]}]
    if doc["requires"] is not None:
        operation["security"] = [{doc["requires"].security_scheme: []}]
    return operation
