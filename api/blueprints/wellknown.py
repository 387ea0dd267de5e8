"""App association files, so the Caf app may use passkeys for this relying party."""

from __future__ import annotations

from flask import Blueprint, jsonify

from ..config import settings

bp = Blueprint("wellknown", __name__, url_prefix="/.well-known")


@bp.get("/assetlinks.json")
def assetlinks():
    """Digital Asset Links: let the Android app get sign-in credentials for this domain."""
    config = settings()
    package, fingerprints = config.ANDROID_APP_PACKAGE, config.ANDROID_CERT_FINGERPRINTS
    statements = []
    if package and fingerprints:
        statements.append(
            {
                "relation": [
                    "delegate_permission/common.handle_all_urls",
                    "delegate_permission/common.get_login_creds",
                ],
                "target": {
                    "namespace": "android_app",
                    "package_name": package,
                    "sha256_cert_fingerprints": list(fingerprints),
                },
            }
        )
    return _public_json(statements)


@bp.get("/apple-app-site-association")
def apple_app_site_association():
    """Let the iOS app use passkeys (webcredentials) for this domain."""
    return _public_json({"webcredentials": {"apps": list(settings().APPLE_APP_IDS)}})


def _public_json(payload):
    response = jsonify(payload)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
