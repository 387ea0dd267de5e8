"""Scaling with the number of accounts: sign-in latency and refresh throughput.

    python bench/scaling.py [--sizes 1000,100000,1000000] [--databases sqlite,PG_URL]
                            [--seconds 10] [--workers 2] [--output results/scaling.md]

Accounts are bulk-loaded (one precomputed argon2id hash, COPY or executemany), then each
size is measured on a fresh node: complete code sign-ins one after another (accounts
picked at random over the whole table, so the index is exercised, not a cached corner),
and token refreshes from 4 clients.
"""

from __future__ import annotations

import argparse
import random
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

RESULTS = Path(__file__).with_name("results") / "scaling.md"


def measure(database: str, size: int, args) -> dict:
    smtp_port = free_port()
    sink = SmtpSink("127.0.0.1", smtp_port).start()
    sink.poll_interval = 0.002
    try:
        with service(
            database, MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port)
        ) as svc:
            began = time.monotonic()
            bulk_load(svc, size)
            load_seconds = time.monotonic() - began
            node = svc.start_node(args.workers)
            picker = random.Random(size)

            def sign_in(slot, steps):
                index = picker.randrange(size)
                app = MobileApp(
                    transport=HttpTransport(node.url),
                    device=Device(),
                    mailbox=sink,
                    email=email_for(index),
                )
                with steps("sign-in"):
                    app.sign_in_with_code(nir_for(index), PASSWORD)

            # Warm-up (not measured): a fresh node's first requests are slower everywhere.
            run_load(sign_in, nodes=[node], concurrency=1, seconds=2)
            sign_ins = run_load(sign_in, nodes=[node], concurrency=1, seconds=args.seconds)
            apps = []
            for _ in range(4):
                index = picker.randrange(size)
                app = MobileApp(
                    transport=HttpTransport(node.url),
                    device=Device(),
                    mailbox=sink,
                    email=email_for(index),
                )
                app.sign_in_with_code(nir_for(index), PASSWORD)
                apps.append(app)

            def refresh(slot, steps):
                apps[slot].refresh()

            run_load(refresh, nodes=[node], concurrency=4, seconds=2)  # warm-up
            refreshes = run_load(refresh, nodes=[node], concurrency=4, seconds=args.seconds)
            memory = max(rss_mb(pid) for pid in node.workers)
    finally:
        sink.stop()
    latencies = sign_ins.steps.get("sign-in", [])
    return {
        "load_seconds": load_seconds,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "sign_in_errors": sign_ins.errors,
        "refresh_per_s": refreshes.per_second,
        "refresh_errors": refreshes.errors,
        "memory": memory,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--databases", default="sqlite")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the table goes")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    lines = [
        "### Scaling with the number of accounts",
        "",
        f"Machine: {machine()}. One node, {args.workers} gunicorn workers; {args.seconds:g} s "
        "of sequential complete code sign-ins (random accounts) and of refreshes from "
        "4 clients, per row.",
        "",
        f"Command: `python bench/scaling.py --sizes {args.sizes} --databases "
        f"{','.join('sqlite' if d == 'sqlite' else 'PG_URL' for d in args.databases.split(','))}"
        f" --seconds {args.seconds:g} --workers {args.workers}`",
        "",
        "| database | accounts | bulk load (s) | sign-in p50 (ms) | sign-in p95 (ms) | "
        "refreshes/s | worker RSS (MB) | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    ratios = []
    for database in args.databases.split(","):
        label = "SQLite" if database == "sqlite" else "PostgreSQL"
        results = {size: measure(database, size, args) for size in sizes}
        for size, r in results.items():
            lines.append(
                f"| {label} | {size:,} | {r['load_seconds']:.1f} | {1000 * r['p50']:.0f} | "
                f"{1000 * r['p95']:.0f} | {r['refresh_per_s']:.0f} | {r['memory']:.0f} | "
                f"{r['sign_in_errors'] + r['refresh_errors']} |"
            )
        small, large = results[sizes[0]], results[sizes[-1]]
        ratios.append(
            f"| {label} | **{large['p50'] / small['p50']:.2f}** | "
            f"**{large['refresh_per_s'] / small['refresh_per_s']:.2f}** |"
        )
    lines += [
        "",
        f"Ratios {sizes[-1]:,} ÷ {sizes[0]:,} accounts (target: within 10%, i.e. 0.90–1.10):",
        "",
        "| database | sign-in p50 | refreshes/s |",
        "| --- | ---: | ---: |",
        *ratios,
        "",
    ]
    report = "\n".join(lines)
    print(report)
    args.output.parent.mkdir(exist_ok=True)
    args.output.write_text(report)


if __name__ == "__main__":
    main()
