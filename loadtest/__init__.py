"""Locust scenarios for the whole stack, driven through nginx: see README.md and locustfile.py."""
