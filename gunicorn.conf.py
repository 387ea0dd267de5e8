"""Gunicorn settings for production: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Every setting can be overridden from the environment (GUNICORN_*), and the listen
address with ``--bind``.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")

# A sign-in is dominated by argon2id, which is CPU-bound: one process per core keeps every
# core busy. argon2-cffi releases the GIL while hashing, so a few threads per process let
# database and SMTP waits overlap without adding processes (and their memory).
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))

# No request should take long: fail fast rather than pile up behind a stuck dependency.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5

# Recycle workers now and then so that any slow growth of memory cannot accumulate.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "20000"))
max_requests_jitter = 2000

# Behind a load balancer: trust its X-Forwarded-* (the app's TRUSTED_PROXIES decides how
# many hops ProxyFix believes).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# The access log names the path only (%(U)s), never the query string, and no headers:
# no token, code or address can reach it.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss "%(a)s"'
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")


def when_ready(server):
    """Say it loudly when a development or testing configuration listens beyond loopback."""
    import socket

    from api.config import exposure_warning

    hosts = [
        str(listener.sock.getsockname()[0])
        for listener in server.LISTENERS
        if listener.sock.family in (socket.AF_INET, socket.AF_INET6)
    ]
    warning = exposure_warning(
        os.environ.get("APP_ENV", "development"), os.environ.get("MAIL_BACKEND", "outbox"), hosts
    )
    if warning:
        server.log.warning(warning)
