"""Infrastructure the flows stand on: keys, passwords, throttles, mail and SMS.

Flows queue messages with ``mailer.queue`` and ``sms.queue``; ``outbox/`` is the delivery
engine the workers run (SMTP and the SMS provider are its transports).

Nothing here knows a sign-in flow or HTTP: ``api/services`` (the flows) and
``api/webauthn`` (the ceremonies) both build on these modules, never the reverse.
"""
