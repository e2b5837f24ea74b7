"""Importing locust gevent-patches the whole process (sockets, threads, ssl): right for a Locust run,
wrong for the pytest process, which also runs asyncio tests and the native stack. The unit tests only
need Locust's stats classes, so locust is imported here once, unpatched, and the variable removed
again so the headless runs (subprocesses) are patched as usual."""

import os

os.environ["LOCUST_SKIP_MONKEY_PATCH"] = "1"
try:
    import locust  # noqa: F401
finally:
    del os.environ["LOCUST_SKIP_MONKEY_PATCH"]
