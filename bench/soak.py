"""Soak: full sign-ins (emailed code and biometrics) against two nodes for a few minutes.

    python bench/soak.py --minutes 3 --database postgresql+psycopg://postgres@127.0.0.1/postgres \
        --redis redis://127.0.0.1:6379/0

Reports the error count, throughput, latencies, and each worker's resident memory at the
start and the end; appends the table to bench/soak-results.md.
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from harness import PASSWORD, email_for, nir_for, percentile, rss_mb, service

from mobile_mock.client import ApiProblem, MobileApp
from mobile_mock.device import Device
from mobile_mock.transport import HttpTransport

RESULTS = Path(__file__).with_name("soak-results.md")


class Person:
    """One account holder with a phone, switching between nodes like a load balancer."""

    def __init__(self, index: int, nodes: list[str]) -> None:
        self.nir, self.email = nir_for(index), email_for(index)
        self.transports = [HttpTransport(url) for url in nodes]
        self.app = MobileApp(transport=self.transports[0], device=Device(), email=self.email)
        self.enrolled = False

    def hop(self) -> MobileApp:
        self.app.transport = random.choice(self.transports)
        self.app.mailbox.transport = self.app.transport
        return self.app

    def code_sign_in(self) -> None:
        self.hop().sign_in(self.nir, PASSWORD)
        self.hop().send_code()
        self.hop().verify_code(self.hop().fetch_code())
        self.hop().account()
        self.hop().refresh()
        if not self.enrolled:
            self.hop().enable_biometrics("Téléphone de test")
            self.enrolled = True
        self.hop().sign_out()

    def biometric_sign_in(self) -> None:
        self.hop().sign_in(self.nir, PASSWORD)
        self.hop().verify_biometrics()
        self.hop().account()
        self.hop().sign_out()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--accounts", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per node")
    parser.add_argument("--database", default="sqlite", help="'sqlite' or a PostgreSQL URL")
    parser.add_argument("--redis", default=None, help="Redis URL for rate limits")
    args = parser.parse_args()

    with service(args.database, redis=args.redis) as svc:
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, newline="") as rows:
            writer = csv.writer(rows)
            writer.writerow(["nir", "email", "password"])
            for index in range(args.accounts):
                writer.writerow([nir_for(index), email_for(index), PASSWORD])
        svc.flask("accounts", "import", rows.name)
        nodes = [svc.start_node(args.workers), svc.start_node(args.workers)]
        people = [Person(i, [n.url for n in nodes]) for i in range(args.accounts)]
        for person in people[: args.clients]:
            person.code_sign_in()  # warm-up: every worker has served requests
        memory_start = {pid: rss_mb(pid) for node in nodes for pid in node.workers}

        outcomes: Counter[str] = Counter()
        latencies: dict[str, list[float]] = {"code": [], "webauthn": []}
        errors: list[str] = []
        lock = threading.Lock()
        deadline = time.monotonic() + args.minutes * 60

        def client(slot: int) -> None:
            own = people[slot :: args.clients]
            while time.monotonic() < deadline:
                person = random.choice(own)
                kind = "webauthn" if person.enrolled and random.random() < 0.5 else "code"
                started = time.perf_counter()
                try:
                    (person.biometric_sign_in if kind == "webauthn" else person.code_sign_in)()
                    outcome = "ok"
                except (ApiProblem, Exception) as exc:  # every failure is unexpected here
                    outcome = "error"
                    with lock:
                        errors.append(f"{kind}: {exc}")
                elapsed = time.perf_counter() - started
                with lock:
                    outcomes[(kind, outcome)] += 1
                    if outcome == "ok":
                        latencies[kind].append(elapsed)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        duration = time.monotonic() - began
        memory_end = {pid: rss_mb(pid) for node in nodes for pid in node.workers}

    total_ok = outcomes[("code", "ok")] + outcomes[("webauthn", "ok")]
    total_errors = outcomes[("code", "error")] + outcomes[("webauthn", "error")]
    lines = [
        f"## Soak {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Two nodes × {args.workers} gunicorn workers (gthread), {args.clients} clients, "
        f"{args.accounts} accounts, {duration / 60:.1f} min, database "
        f"{'SQLite' if args.database == 'sqlite' else 'PostgreSQL'}, rate limits "
        f"{'Redis' if args.redis else 'memory'}. Command: `python bench/soak.py --minutes "
        f"{args.minutes:g} --clients {args.clients} --accounts {args.accounts} --workers "
        f"{args.workers} --database {'sqlite' if args.database == 'sqlite' else 'PG_URL'}"
        f"{' --redis REDIS_URL' if args.redis else ''}`",
        "",
        "| sign-in | completed | errors | per second | p50 (s) | p95 (s) | p99 (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, label in (("code", "emailed code (+ refresh)"), ("webauthn", "biometrics")):
        values = latencies[kind]
        lines.append(
            f"| {label} | {outcomes[(kind, 'ok')]} | {outcomes[(kind, 'error')]} | "
            f"{len(values) / duration:.1f} | {percentile(values, 50):.3f} | "
            f"{percentile(values, 95):.3f} | {percentile(values, 99):.3f} |"
        )
    lines += [
        "",
        f"**Unexpected errors: {total_errors}** out of {total_ok + total_errors} sign-ins.",
        "",
        "| worker pid | RSS at start (MB) | RSS at end (MB) |",
        "| --- | ---: | ---: |",
    ]
    for pid, start in memory_start.items():
        lines.append(f"| {pid} | {start:.1f} | {memory_end.get(pid, float('nan')):.1f} |")
    if errors:
        lines += ["", "First errors:", *[f"- {e}" for e in errors[:10]]]
    report = "\n".join(lines) + "\n"
    print(report)
    previous = RESULTS.read_text() if RESULTS.exists() else "# Soak results\n\n"
    RESULTS.write_text(previous + report + "\n")


if __name__ == "__main__":
    main()
