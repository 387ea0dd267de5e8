"""Thin HTTP adapters: parse with a schema, call a service, dump a schema."""
