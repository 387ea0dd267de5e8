"""A simulator of the Caf app for QA: a software authenticator and an app client."""
