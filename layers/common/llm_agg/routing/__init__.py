"""Routing: the catalog of models, and which provider, model and account serve a request."""
