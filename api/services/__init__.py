"""The service layer: sign-in flows callable without an HTTP request."""
