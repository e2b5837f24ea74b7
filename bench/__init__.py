"""make bench: the framework comparison (see bench/README.md)."""
