"""Backends: one module per provider, found by the engine through entry points."""
