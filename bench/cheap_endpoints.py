"""Cheap endpoints against the ceiling of a bare Flask JSON endpoint, in one run.

    python bench/cheap_endpoints.py [--workers 2] [--seconds 10] [--concurrency 4]
                                    [--database sqlite|postgresql+psycopg://…]

Token refresh, GET /account and POST /auth/webauthn/verify per second and server CPU per
request, against GET /bare of ``bench/bare_app.py`` under the same gunicorn configuration.
"""

from __future__ import annotations

import argparse
import queue
from pathlib import Path

import requests
from harness import (
    PASSWORD,
    Done,
    bulk_load,
    email_for,
    machine,
    nir_for,
    rss_mb,
    run_load,
    service,
)

from mobile_mock.client import MobileApp
from mobile_mock.device import Device
from mobile_mock.transport import HttpTransport

RESULTS = Path(__file__).with_name("results") / "cheap_endpoints.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--database", default="sqlite")
    args = parser.parse_args()
    c = args.concurrency
    rows = []

    with service(args.database) as svc:
        bulk_load(svc, 200)
        bare = svc.start_node(args.workers, app="bench.bare_app:app")
        node = svc.start_node(args.workers)
        sessions = [requests.Session() for _ in range(c)]

        def bare_call(slot, steps):
            response = sessions[slot].get(bare.url + "/bare", timeout=10)
            assert response.status_code == 200

        rows.append(
            (
                "bare Flask JSON endpoint",
                run_load(bare_call, nodes=[bare], concurrency=c, seconds=args.seconds),
            )
        )

        # One signed-in app per client thread (setup, not measured).
        apps = []
        for index in range(c):
            app = MobileApp(
                transport=HttpTransport(node.url), device=Device(), email=email_for(index)
            )
            app.sign_in_with_code(nir_for(index), PASSWORD)
            app.enable_biometrics("Téléphone de test")
            apps.append(app)

        def refresh(slot, steps):
            apps[slot].refresh()

        def account(slot, steps):
            apps[slot].account()

        rows.append(
            (
                "POST /auth/refresh",
                run_load(refresh, nodes=[node], concurrency=c, seconds=args.seconds),
            )
        )
        rows.append(
            ("GET /account", run_load(account, nodes=[node], concurrency=c, seconds=args.seconds))
        )

        # Assertions ready to verify: password step and options done beforehand. Each client
        # thread owns one phone and sends its assertions in the order they were signed (out
        # of order, the counter would go back and the service would block the phone).
        per_slot = 50 * max(1, int(args.seconds / 10))
        ready: list[queue.Queue] = [queue.Queue() for _ in range(c)]
        for _ in range(per_slot):
            for index, app in enumerate(apps):
                app.sign_in(nir_for(index), PASSWORD)
                options = app._call("POST", "/auth/webauthn/options", token=app.mfa_token)
                assertion = app.device.authenticator.get(options, origin=app.device.origin)
                ready[index].put((app.mfa_token, assertion))
        prepared = per_slot * c

        def verify(slot, steps):
            try:
                mfa, assertion = ready[slot].get_nowait()
            except queue.Empty:
                raise Done from None  # this thread has sent all its assertions
            response = sessions[slot].post(
                node.url + "/api/v1/auth/webauthn/verify",
                json=assertion,
                timeout=10,
                headers={"Authorization": f"Bearer {mfa}"},
            )
            assert response.status_code == 200, response.text

        rows.append(
            (
                "POST /auth/webauthn/verify",
                run_load(
                    verify,
                    nodes=[node],
                    concurrency=c,
                    seconds=args.seconds,
                    max_operations=prepared,
                ),
            )
        )
        memory = [rss_mb(pid) for pid in node.workers]

    base = rows[0][1]
    lines = [
        "### Cheap endpoints against a bare Flask endpoint",
        "",
        f"Machine: {machine()}. {args.workers} gunicorn workers (gthread, 4 threads) for each "
        f"app, {c} client threads, {args.seconds:g} s per row, database "
        f"{'SQLite' if args.database == 'sqlite' else 'PostgreSQL'}.",
        "",
        f"Command: `python bench/cheap_endpoints.py --workers {args.workers} --seconds "
        f"{args.seconds:g} --concurrency {c} --database "
        f"{'sqlite' if args.database == 'sqlite' else 'PG_URL'}`",
        "",
        "| endpoint | requests/s | server CPU ms / request | bare CPU ÷ this CPU (target ≥ 0.5)"
        " | requests/s ÷ bare | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, result in rows:
        lines.append(
            f"| {name} | {result.per_second:.0f} | {result.cpu_ms_each:.2f} | "
            f"**{base.cpu_ms_each / result.cpu_ms_each:.2f}** | "
            f"{result.per_second / base.per_second:.2f} | {result.errors} |"
        )
    lines += [
        "",
        f"Service workers' resident memory after the run: "
        f"{', '.join(f'{m:.0f}' for m in memory)} MB.",
        "",
    ]
    report = "\n".join(lines)
    print(report)
    target = RESULTS.with_name(
        f"{RESULTS.stem}-{'sqlite' if args.database == 'sqlite' else 'postgresql'}.md"
    )
    target.parent.mkdir(exist_ok=True)
    target.write_text(report)


if __name__ == "__main__":
    main()
