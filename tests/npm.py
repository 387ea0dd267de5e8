"""Install a test tool's npm packages from its committed lock file (``npm ci``), once."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


class Unavailable(RuntimeError):
    """npm is missing: the packages cannot be installed."""


def install_locked(folder: Path, timeout: float, *, needed_for: str) -> None:
    """Run ``npm ci`` in ``folder`` unless its node_modules already matches the lock file.

    ``needed_for`` completes the message when npm is missing ("… to run X").
    """
    marker = folder / "node_modules" / ".package-lock.json"
    lock = folder / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise Unavailable(f"npm not found: install Node.js 20+ {needed_for}")
    installed = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if installed.returncode != 0:
        raise RuntimeError(f"npm ci failed in {folder}:\n{installed.stderr[-2000:]}")
