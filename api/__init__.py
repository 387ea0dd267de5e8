"""Caf « Mon Compte » authentication service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from . import middleware
from .clock import Clock
from .config import Settings
from .errors import ApiError, register_error_handlers
from .extensions import db, jwt, limiter, migrate
from .jsonio import ApiJsonProvider
from .logs import configure_logging

MIGRATIONS = str(Path(__file__).parent / "migrations")


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    """Create the app from ``settings`` (default: the environment), validated first."""
    settings = settings or Settings.from_env(**overrides)
    app = Flask(__name__, instance_relative_config=False)
    app.json = ApiJsonProvider(app)
    app.config.update({name: getattr(settings, name) for name in vars(settings)})
    app.config.update(settings.flask_config())
    app.extensions["settings"] = settings
    app.extensions["clock"] = Clock()

    if settings.TRUSTED_PROXIES:
        # Behind N trusted proxies, take the client address they saw: per-address limits
        # and the audit log must see people, not the load balancer.
        n = settings.TRUSTED_PROXIES
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    configure_logging(app)
    middleware.install(app, production=settings.is_production)
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS)
    jwt.init_app(app)
    limiter.init_app(app)
    with app.app_context():
        _tune_sqlite(db.engine)

    register_error_handlers(app)
    _register_blueprints(app, settings)

    from .cli import register_cli

    register_cli(app)
    return app


def _register_blueprints(app: Flask, settings: Settings) -> None:
    from .blueprints import (
        account,
        auth,
        authenticators,
        contacts,
        dev,
        mandates,
        mediator,
        ops,
        passkey,
        web,
        wellknown,
    )

    app.register_blueprint(auth.bp)
    if settings.PASSKEY_SIGN_IN:
        app.register_blueprint(passkey.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(authenticators.bp)
    app.register_blueprint(contacts.bp)
    app.register_blueprint(mandates.bp)
    app.register_blueprint(mediator.bp)
    app.register_blueprint(wellknown.bp)
    app.register_blueprint(web.bp)
    app.register_blueprint(ops.bp)
    if settings.dev_outbox_enabled:
        app.register_blueprint(dev.bp)
    if settings.dev_sms_outbox_enabled:
        app.register_blueprint(dev.sms_bp)
    if settings.franceconnect_enabled:
        from .blueprints import franceconnect

        app.register_blueprint(franceconnect.bp)


def _tune_sqlite(engine: Any) -> None:
    """Make SQLite take its write lock at BEGIN, so concurrent writers queue, not fail."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL never corrupts the database; it only defers the fsync to
            # checkpoints, instead of one per commit.
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


__all__ = ["ApiError", "create_app"]
