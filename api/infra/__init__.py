"""Infrastructure the flows stand on: keys, passwords, throttles, mail.

Nothing here knows a sign-in flow or HTTP: ``api/services`` (the flows) and
``api/webauthn`` (the ceremonies) both build on these modules, never the reverse.
"""
