"""Sign-in cost against the physical floor (argon2id), measured in one run on the same cores.

    python bench/signin_cost.py [--workers 2] [--seconds 15] [--concurrency 1,2,4]
                                [--database sqlite|postgresql+psycopg://…]

(a) the floor: argon2id verifications per second and CPU per verification, with the
    production parameters (m=19456 KiB, t=2, p=1), in as many processes as gunicorn workers;
(b) complete sign-ins per second, by emailed code (login, ask code, verify) and by
    biometrics (login, options, assertion), at several concurrency levels, with the server's
    CPU time per sign-in read from /proc (master and workers);
(c) the ratios, and latency percentiles per step.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import time
from pathlib import Path

from harness import (
    PASSWORD,
    bulk_load,
    email_for,
    free_port,
    machine,
    nir_for,
    percentile,
    rss_mb,
    run_load,
    service,
)

from mobile_mock.client import MobileApp
from mobile_mock.device import Device
from mobile_mock.mailbox import SmtpSink
from mobile_mock.transport import HttpTransport

RESULTS = Path(__file__).with_name("results") / "signin_cost.md"


# --- (a) the floor -------------------------------------------------------------------------


def _verify_for(seconds: float, queue) -> None:
    from argon2 import PasswordHasher, Type

    hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID)
    encoded = hasher.hash(PASSWORD)
    count, cpu_start, stop = 0, time.process_time(), time.monotonic() + seconds
    while time.monotonic() < stop:
        hasher.verify(encoded, PASSWORD)
        count += 1
    queue.put((count, time.process_time() - cpu_start))


def argon2_floor(processes: int, seconds: float) -> tuple[float, float]:
    """Return (verifications per second, CPU ms per verification)."""
    queue = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=_verify_for, args=(seconds, queue)) for _ in range(processes)
    ]
    began = time.monotonic()
    for worker in workers:
        worker.start()
    results = [queue.get() for _ in workers]
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - began
    count = sum(r[0] for r in results)
    return count / elapsed, 1000 * sum(r[1] for r in results) / count


# --- (b) sign-ins ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", default="1,2,4")
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--database", default="sqlite")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    verifications_per_s, cpu_per_verification = argon2_floor(args.workers, args.seconds)

    smtp_port = free_port()
    sink = SmtpSink("127.0.0.1", smtp_port).start()
    try:
        with service(
            args.database, MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port)
        ) as svc:
            bulk_load(svc, args.accounts)
            node = svc.start_node(args.workers)
            rest = [rss_mb(pid) for pid in node.workers]
            rows = measure(node, sink, levels, args)
            after = [rss_mb(pid) for pid in node.workers]
    finally:
        sink.stop()

    report = render(args, verifications_per_s, cpu_per_verification, rows, rest, after)
    print(report)
    target = RESULTS.with_name(
        f"{RESULTS.stem}-{'sqlite' if args.database == 'sqlite' else 'postgresql'}.md"
    )
    target.parent.mkdir(exist_ok=True)
    target.write_text(report)


def _app(node, sink, index: int) -> MobileApp:
    app = MobileApp(
        transport=HttpTransport(node.url), device=Device(), mailbox=sink, email=email_for(index)
    )
    return app


def measure(node, sink, levels, args) -> list[tuple[str, int, object]]:
    sink.poll_interval = 0.002
    counter = itertools.count()
    rows = []

    def code_sign_in(slot, steps):
        index = next(counter) % args.accounts
        app = _app(node, sink, index)
        with steps("login"):
            app.sign_in(nir_for(index), PASSWORD)
        with steps("ask code"):
            app.send_code()
        with steps("mail arrives"):
            code = app.fetch_code()
        with steps("verify code"):
            app.verify_code(code)

    # Phones for biometrics: enrolled through the API (setup, not measured).
    phones = {}
    for index in range(args.accounts - 40, args.accounts):
        app = _app(node, sink, index)
        app.sign_in_with_code(nir_for(index), PASSWORD)
        app.enable_biometrics("Téléphone de test")
        phones[index] = app
    enrolled = sorted(phones)

    def biometric_sign_in(slot, steps):
        # Each thread owns its phones: one authenticator's counter never races itself.
        own = enrolled[slot :: max(levels)]
        index = own[next(counter) % len(own)]
        app = phones[index]
        with steps("login"):
            app.sign_in(nir_for(index), PASSWORD)
        with steps("options"):
            options = app._call("POST", "/auth/webauthn/options", token=app.mfa_token)
        assertion = app.device.authenticator.get(options, origin=app.device.origin)
        with steps("verify assertion"):
            app._keep(
                app._call("POST", "/auth/webauthn/verify", token=app.mfa_token, json=assertion)
            )

    for concurrency in levels:
        for name, operation in (("emailed code", code_sign_in), ("biometrics", biometric_sign_in)):
            result = run_load(
                operation, nodes=[node], concurrency=concurrency, seconds=args.seconds
            )
            rows.append((name, concurrency, result))
    return rows


def render(args, verifications_per_s, cpu_per_verification, rows, rest, after) -> str:
    lines = [
        "### Sign-in cost against the argon2id floor",
        "",
        f"Machine: {machine()}. One node, {args.workers} gunicorn workers (gthread, 4 threads), "
        f"database {'SQLite' if args.database == 'sqlite' else 'PostgreSQL'}, "
        f"{args.accounts} accounts, mail over SMTP to a local sink, "
        f"{args.seconds:g} s per row. The load client runs on the same cores.",
        "",
        f"Command: `python bench/signin_cost.py --workers {args.workers} --seconds "
        f"{args.seconds:g} --concurrency {args.concurrency} --database "
        f"{'sqlite' if args.database == 'sqlite' else 'PG_URL'}`",
        "",
        f"Floor: **{verifications_per_s:.1f} argon2id verifications/s** with {args.workers} "
        f"processes, **{cpu_per_verification:.1f} ms CPU per verification**.",
        "",
        "| sign-in | clients | sign-ins/s | web node CPU ms / sign-in | CPU per verification ÷ "
        "CPU per sign-in (target ≥ 0.8) | mail worker CPU ms / sign-in | "
        "sign-ins/s ÷ verifications/s | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, concurrency, result in rows:
        lines.append(
            f"| {name} | {concurrency} | {result.per_second:.1f} | {result.cpu_ms_each:.1f} | "
            f"**{cpu_per_verification / result.cpu_ms_each:.2f}** | "
            f"{result.delivery_cpu_ms_each:.1f} | "
            f"{result.per_second / verifications_per_s:.2f} | {result.errors} |"
        )
    lines += [
        "",
        "Latency per step, milliseconds (p50 / p95 / p99):",
        "",
        "| sign-in | clients | step | p50 | p95 | p99 |",
        "| --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for name, concurrency, result in rows:
        for step, values in result.steps.items():
            lines.append(
                f"| {name} | {concurrency} | {step} | {1000 * percentile(values, 50):.0f} | "
                f"{1000 * percentile(values, 95):.0f} | {1000 * percentile(values, 99):.0f} |"
            )
    lines += [
        "",
        f"Resident memory per worker: {', '.join(f'{m:.0f}' for m in rest)} MB at rest, "
        f"{', '.join(f'{m:.0f}' for m in after)} MB after the run.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
