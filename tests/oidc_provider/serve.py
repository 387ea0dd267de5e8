"""Run the local FranceConnect+ stand-in by hand, for a demo server and mobile-mock.

From the project's root, with the virtual environment of the Quick start::

    .venv/bin/python -m tests.oidc_provider.serve --service http://localhost:8000

It installs the provider's npm packages if need be (``npm ci`` from the lock file),
makes the service's decryption keys, starts the provider on ``http://127.0.0.1:9000``,
registers the service as its client and writes the service's FRANCECONNECT_* settings
to ``franceconnect.env``. Then, in another terminal::

    set -a; . ./franceconnect.env; set +a; .venv/bin/flask --app wsgi demo
    .venv/bin/mobile-mock franceconnect-sign-in --identity angela

Its people are ``angela`` and ``marcel`` (see ``local.IDENTITIES``); its login page asks
for one of them and a level of assurance. Ctrl-C stops it. For a demo only: its keys and
client secret are not secrets.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import tempfile
from pathlib import Path

from . import local


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", default="http://localhost:8000", help="the demo server")
    parser.add_argument("--port", type=int, default=9000, help="where the provider listens")
    parser.add_argument("--env-file", default="franceconnect.env", type=Path)
    args = parser.parse_args(argv)

    service = args.service.rstrip("/")
    # Stopped by a signal, it still stops the provider (the finally clause below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    local.install_packages(timeout=300)
    issuer = f"http://127.0.0.1:{args.port}"
    with tempfile.TemporaryDirectory() as workdir:
        process = local.start(args.port, Path(workdir), sys.stderr)
        try:
            local.wait_until_up(issuer, process, timeout=60)
            provider = local.LocalProvider(issuer=issuer, keys=local.service_keys())
            return_urls = [f"{service}/", local.APP_RETURN_DEFAULT]
            provider.register_client(
                "moncompte-demo",
                redirect_uris=[service + local.CALLBACK_PATH],
                post_logout_redirect_uris=return_urls,
            )
            settings = provider.service_settings(
                "moncompte-demo",
                redirect_uri=service + local.CALLBACK_PATH,
                return_urls=return_urls,
            )
            lines = [
                f"{name}={shlex.quote(','.join(value) if isinstance(value, list) else value)}"
                for name, value in settings.items()
            ]
            args.env_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
            print(f"FranceConnect stand-in on {issuer}; settings in {args.env_file}", flush=True)
            process.wait()
        except KeyboardInterrupt:
            pass
        finally:
            process.terminate()
            process.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
