"""Upstream providers: one registry of specs, a shared SSE parser, and the adapters."""
