"""Shared pieces of the benchmark and soak scripts: start nodes, read /proc, drive sign-ins.

Everything runs on loopback, bounded in time and request count, and stops by itself.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
PASSWORD = "Une phrase de passe solide"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nir_for(index: int) -> str:
    """Return the 13-character NIR of bench account ``index`` (up to 10⁹ accounts)."""
    return f"1850{index:09d}"


def email_for(index: int) -> str:
    return f"allocataire-{index}@bench.example"


# --- processes ----------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    pids.append(int(entry.name))
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes, from /proc/<pid>/stat."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        return pages * PAGE_SIZE / 1e6
    return 0.0


@dataclass
class Node:
    url: str
    process: subprocess.Popen
    env: dict[str, str]
    # The mail worker that delivers this node's outbox (MAIL_BACKEND=smtp): its CPU is
    # reported apart, the web node no longer talks SMTP.
    mail_worker: subprocess.Popen | None = None

    @property
    def workers(self) -> list[int]:
        return children(self.process.pid)

    @property
    def pids(self) -> list[int]:
        return [self.process.pid, *self.workers]

    @property
    def delivery_pids(self) -> list[int]:
        return [self.mail_worker.pid] if self.mail_worker else []

    def stop(self) -> None:
        for process in (self.process, self.mail_worker):
            if process is None:
                continue
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@dataclass
class Service:
    """One database, N gunicorn nodes with production-like settings."""

    database_url: str
    env: dict[str, str]
    nodes: list[Node] = field(default_factory=list)
    _drop: str | None = None

    def flask(self, *args: str) -> None:
        subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
        )

    def start_node(self, workers: int, threads: int = 4, app: str = "wsgi:app") -> Node:
        port = free_port()
        log = open(Path(tempfile.gettempdir()) / f"bench-gunicorn-{port}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "-c",
                str(ROOT / "gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--access-logfile",
                "/dev/null",
                app,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        node = Node(f"http://127.0.0.1:{port}", process, self.env)
        if self.env.get("MAIL_BACKEND") == "smtp":
            node.mail_worker = subprocess.Popen(
                [str(BIN / "flask"), "--app", "wsgi", "mail", "deliver", "--loop"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(node.url + "/healthz", timeout=10).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or workers still booting
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"node did not start, see {log.name}")
            time.sleep(0.2)
        # Wait for every worker to be up, so that CPU and memory readings cover them all.
        while len(node.workers) < workers and time.monotonic() < deadline:
            time.sleep(0.1)
        self.nodes.append(node)
        return node

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        if self._drop:
            from sqlalchemy import create_engine, text

            admin, name = self._drop.rsplit("|", 1)
            engine = create_engine(admin, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            engine.dispose()


@contextlib.contextmanager
def service(database: str, *, redis: str | None = None, **settings: str) -> Iterator[Service]:
    """Create a fresh database (SQLite file, or a new database on a PostgreSQL server),
    migrate it and yield the service description; drop everything at the end."""
    drop = None
    if database == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp(prefix='bench-')}/bench.sqlite3"
    else:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        name = f"moncompte_bench_{uuid.uuid4().hex[:8]}"
        engine = create_engine(database, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        url = make_url(database).set(database=name).render_as_string(hide_password=False)
        drop = f"{database}|{name}"
    env = {
        **os.environ,
        "APP_ENV": "testing",
        "DATABASE_URL": url,
        "SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789",
        "JWT_SECRET_KEY": "bench-jwt-key-0123456789abcdef0123456789abc",
        "MAIL_BACKEND": "outbox",
        "OTP_RESEND_SECONDS": "0",
        "OTP_HOURLY_CAP": "1000000",
        "RATELIMIT_PER_IP": "1000000 per minute",
        "RATELIMIT_STORAGE_URI": redis or "memory://",
        "RATELIMIT_KEY_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
        "LOG_LEVEL": "WARNING",
        **settings,
    }
    svc = Service(url, env, _drop=drop)
    try:
        svc.flask("db", "upgrade")
        yield svc
    finally:
        svc.stop()
        if redis:
            with contextlib.suppress(Exception):
                import redis as redis_client

                client = redis_client.Redis.from_url(redis)
                for key in client.scan_iter(match=f"*{env['RATELIMIT_KEY_PREFIX']}*"):
                    client.delete(key)


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


# --- accounts in bulk -------------------------------------------------------------------


def bulk_load(svc: Service, count: int, *, start: int = 0, batch: int = 20_000) -> None:
    """Insert ``count`` accounts fast: one precomputed argon2id hash, HMACs in Python,
    COPY on PostgreSQL and executemany on SQLite."""
    import hashlib
    import hmac
    import secrets
    from datetime import UTC, datetime

    from argon2 import PasswordHasher, Type
    from sqlalchemy import create_engine

    from api.nir import mask_nir

    password_hash = PasswordHasher(
        time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID
    ).hash(PASSWORD)
    master = svc.env["SECRET_KEY"].encode()
    nir_key = hmac.new(master, b"mon-compte/nir", hashlib.sha256).digest()
    now = datetime.now(UTC).replace(tzinfo=None)
    engine = create_engine(svc.database_url)

    def rows(first: int, last: int):
        for index in range(first, last):
            nir = nir_for(index)
            yield (
                uuid.uuid4().hex,
                hmac.new(nir_key, nir.encode(), hashlib.sha256).digest(),
                mask_nir(nir),
                email_for(index),
                password_hash,
                secrets.token_bytes(32),
                now,
                now,
            )

    columns = (
        "id, nir_hash, nir_masked, email, password_hash, webauthn_user_handle, "
        "created_at, password_changed_at"
    )
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            raw = conn.connection.driver_connection
            statement = f"COPY accounts ({columns}) FROM STDIN"
            with raw.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows(start, start + count):
                    copy.write_row(row)
        else:
            raw = conn.connection.driver_connection
            for first in range(start, start + count, batch):
                raw.executemany(
                    f"INSERT INTO accounts ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    list(rows(first, min(first + batch, start + count))),
                )
    engine.dispose()


# --- a bounded load -------------------------------------------------------------------------


@dataclass
class LoadResult:
    count: int = 0
    errors: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    delivery_cpu_seconds: float = 0.0  # mail workers, apart from the web node
    steps: dict[str, list[float]] = field(default_factory=dict)
    first_errors: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_each(self) -> float:
        return 1000 * self.cpu_seconds / self.count if self.count else float("nan")

    @property
    def delivery_cpu_ms_each(self) -> float:
        return 1000 * self.delivery_cpu_seconds / self.count if self.count else float("nan")


class Done(Exception):
    """Raised by an operation when its thread has no more work."""


class Steps:
    """Time the named steps of one operation."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.times[name] = time.perf_counter() - started


def run_load(
    operation, *, nodes: list[Node], concurrency: int, seconds: float, max_operations: int = 100_000
) -> LoadResult:
    """Run ``operation(slot, steps)`` from ``concurrency`` threads for ``seconds``; measure the
    server's CPU time (master and workers, from /proc) over exactly that window."""
    import threading

    result = LoadResult()
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    pids = [pid for node in nodes for pid in node.pids]
    delivery_pids = [pid for node in nodes for pid in node.delivery_pids]

    def loop(slot: int) -> None:
        while time.monotonic() < stop_at:
            with lock:
                if result.count + result.errors >= max_operations:
                    return
            steps = Steps()
            try:
                operation(slot, steps)
            except Done:
                return
            except Exception as exc:  # counted, and the first few reported
                with lock:
                    result.errors += 1
                    if len(result.first_errors) < 5:
                        result.first_errors.append(repr(exc)[:200])
                continue
            with lock:
                result.count += 1
                for name, value in steps.times.items():
                    result.steps.setdefault(name, []).append(value)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(concurrency)]
    cpu_before, delivery_before = cpu_seconds(pids), cpu_seconds(delivery_pids)
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - began
    result.cpu_seconds = cpu_seconds(pids) - cpu_before
    result.delivery_cpu_seconds = cpu_seconds(delivery_pids) - delivery_before
    return result


def machine() -> str:
    """Describe this machine in one line."""
    import platform

    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = 0
    with contextlib.suppress(OSError):
        memory = int(Path("/proc/meminfo").read_text().split()[1]) // (1024 * 1024)
    return (
        f"{os.cpu_count()} × {model}, {memory} GiB, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )
