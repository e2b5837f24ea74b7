"""The drain: on SIGTERM a service keeps serving for DRAIN_SECONDS, then stops as before.

On a swarm, Docker takes a stopping task out of its DNS 2 s before it sends SIGTERM, but nginx
keeps the addresses it resolved until its answer expires (resolver valid=5s, so up to 6 s more): for
a few seconds after SIGTERM it still sends the task new requests. A task that closed its listener
at once would refuse them, and nginx retries a refused request on another replica only while its
own list of replicas is unchanged, which at that moment it often is not (a 502). Serving on until
nginx has moved away, then stopping gracefully (in-flight requests finish), loses none. Natively
(make dev, the tests) addresses never change: 0, no drain.
"""

import logging
import time

log = logging.getLogger("drain")


def drain(seconds: float) -> None:
    """Keep serving (the caller's workers do; this only waits) for `seconds` after SIGTERM."""
    if seconds > 0:
        log.info("SIGTERM: serving %g s more before stopping (DRAIN_SECONDS)", seconds)
        time.sleep(seconds)


def drain_gunicorn_on_sigterm(arbiter: object, seconds: float) -> None:
    """gunicorn's master closes its listeners as soon as it handles SIGTERM; with a drain it waits
    first. Its workers serve meanwhile; a second SIGTERM or a SIGINT is handled after the wait."""
    if seconds <= 0:
        return
    stop = arbiter.handle_term  # type: ignore[attr-defined]

    def handle_term() -> None:
        drain(seconds)
        stop()

    arbiter.handle_term = handle_term  # type: ignore[attr-defined]
