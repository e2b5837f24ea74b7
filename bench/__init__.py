"""make bench: the framework comparison of issue 7 (see bench/README.md)."""
