"""The local stand-in for FranceConnect+ (panva's oidc-provider) and how to run it."""
