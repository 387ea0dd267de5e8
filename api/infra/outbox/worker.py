"""The delivery worker of ``flask --app wsgi mail|sms deliver``: it outlives any outage.

A failing pass (the database is away, say) is logged and retried after a growing pause;
with ``loop`` the worker never gives up. A single pass gives up at once unless it has
handed messages over without recording them: it then keeps trying to record them for a
while, since a message left unrecorded may be sent again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .engine import CLAIM_LEASE, Outbox, describe_error, reset_session

log = logging.getLogger(__name__)


class WorkerGaveUp(Exception):
    """A single pass failed and could not be completed."""


def run(
    outbox: Outbox,
    *,
    loop: bool,
    interval: float,
    max_backoff: float,
    report: Callable[[int], None] = lambda sent: None,
) -> None:
    """Deliver due messages of ``outbox`` once, or until interrupted with ``loop``."""
    failures = 0
    give_up_at = time.monotonic() + CLAIM_LEASE.total_seconds() / 2
    while True:
        try:
            sent = outbox.deliver_due()
        except Exception as exc:  # the worker outlives any one pass
            reset_session()
            failures += 1
            unrecorded = outbox.unrecorded_count()
            delay = min(interval * 2 ** (failures - 1), max_backoff)
            # The error's class only: its text may quote SQL parameters.
            log.warning(
                f"{outbox.name} worker pass failed",
                extra={
                    "error": describe_error(exc),
                    "failures": failures,
                    "unrecorded": unrecorded,
                    "retry_in_s": round(delay, 2),
                },
            )
            if not loop and (not unrecorded or time.monotonic() > give_up_at):
                message = f"Delivery pass failed ({describe_error(exc)})."
                if unrecorded:
                    message += f" {unrecorded} sent message(s) could not be recorded as sent."
                raise WorkerGaveUp(message) from None
            time.sleep(delay)
            continue
        if failures:
            log.info(f"{outbox.name} worker recovered", extra={"failures": failures})
            failures = 0
        if sent:
            report(sent)
        if not loop:
            return
        time.sleep(interval)


def deliver_pass(outbox: Outbox) -> int:
    """Run one delivery pass as a worker does, logging (not raising) a failure."""
    try:
        return outbox.deliver_due()
    except Exception as exc:  # a pass that fails is retried by the next one
        reset_session()
        log.warning(
            f"{outbox.name} delivery pass failed",
            extra={"error": describe_error(exc), "unrecorded": outbox.unrecorded_count()},
        )
        return 0
