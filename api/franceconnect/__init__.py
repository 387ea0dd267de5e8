"""FranceConnect+ relying party: the OpenID Connect client and its JOSE checks.

``keys`` holds the service's own decryption keys, ``jose`` opens and checks what the
provider signs and encrypts (joserfc), ``provider`` speaks to the provider (Authlib) and
returns a verified :class:`~api.franceconnect.provider.Identity`. Nothing here knows
accounts, sessions or the database: the flows live in ``api/services/franceconnect_*``.
"""
