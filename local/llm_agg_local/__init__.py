"""The local face of the gateway: one process serving every function app, and the CLI."""
