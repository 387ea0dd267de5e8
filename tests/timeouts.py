"""How long the live tests wait, in one place.

CI runs on small, busy machines: a gunicorn worker may take many seconds to import the
app, and one request may queue behind others' work. A wait that is too short fails a
correct run; one that is long only slows down a run that fails anyway. So every wait
for a live process is generous, and the loops that poll stop as soon as they succeed.
"""

from __future__ import annotations

STARTUP_SECONDS = 90.0  # a node to answer /healthz, a node to heal after an outage
HTTP_SECONDS = 60.0  # one HTTP request to a live node
COMMAND_SECONDS = 300.0  # one `flask …` or `mobile-mock …` command
STOP_SECONDS = 60.0  # a process to exit once told to
MAIL_SECONDS = 60.0  # a message to reach an SMTP sink
SMTP_READY_SECONDS = 60.0  # an in-process SMTP sink to start listening
