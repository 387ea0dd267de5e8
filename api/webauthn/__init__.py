"""WebAuthn for « Mon Compte »: py_webauthn's four verbs with our relying-party settings.

- :mod:`.ceremonies`: ``begin_registration``, ``finish_registration``,
  ``begin_authentication``, ``finish_authentication`` and the structural parsing of
  client responses (malformed input is a 400, never a 500).
- :mod:`.challenges`: challenges stored hashed, single use, consumed atomically.
- :mod:`.credentials`: the stored authenticators of an account.
"""
