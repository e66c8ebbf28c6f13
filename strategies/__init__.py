"""Cross-checking strategies, one module each, found by the engine through entry points."""
