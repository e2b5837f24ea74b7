"""The stack under load, through nginx: `locust -f loadtest/locustfile.py` from the repository root.

User classes (weights like a shop's traffic, see README.md):
  ApiReader 6, LegacyReader 3, CounterViewer 2 (websockets), ApiWriter 1.
Headless runs (make loadtest) end with a thresholds table and exit 1 when one breaks; any run
refuses a target that is not loopback unless --allowed-hosts names it.
"""

import logging
import os
import signal
from typing import Any

import flask
import gevent
from locust import events
from locust.argument_parser import LocustArgumentParser
from locust.env import Environment
from locust.runners import WorkerRunner

from loadtest import hosts, thresholds, users
from loadtest.counter_user import CounterViewer
from loadtest.users import ApiReader, ApiWriter, LegacyReader

__all__ = ["ApiReader", "ApiWriter", "CounterViewer", "LegacyReader"]
log = logging.getLogger("loadtest")


@events.init_command_line_parser.add_listener
def add_options(parser: LocustArgumentParser) -> None:
    hosts.add_options(parser)
    thresholds.add_options(parser)
    users.add_options(parser)


@events.init.add_listener
def refuse_other_hosts_before_starting(environment: Environment, web_ui: Any = None, **_: Any) -> None:
    options = environment.parsed_options
    # Headless runs know their host now: stop before anything is sent. (Workers learn it later.)
    headless = options and options.headless and not isinstance(environment.runner, WorkerRunner)
    if headless and (reason := hosts.refusal_for(environment.host, options)):
        log.error(reason)
        raise SystemExit(2)
    if web_ui is None:
        return

    # The web UI sends the host with each start: refuse it there, so the test never starts.
    @web_ui.app.before_request
    def refuse_swarm_on_other_hosts() -> Any:
        if flask.request.path != "/swarm" or flask.request.method != "POST":
            return None
        host = flask.request.form.get("host") or environment.host
        if reason := hosts.refusal_for(host, environment.parsed_options):
            log.error(reason)
            return flask.jsonify({"success": False, "message": reason, "host": environment.host}), 400
        return None


@events.test_start.add_listener
def refuse_other_hosts_at_start(environment: Environment, **_: Any) -> None:
    # Anything else that starts a test (autostart, a shape). The users check it too.
    if isinstance(environment.runner, WorkerRunner):
        return
    if reason := hosts.refusal_for(environment.host, environment.parsed_options):
        log.error(reason)
        gevent.spawn(environment.runner.stop)


# Users are killed when a run ends. Should one not die (seen once, in a 50-user run, not reproduced
# since), a headless run must still end: Locust's own SIGTERM shutdown then stops it, verdict included.
STOP_GRACE_SECONDS = 30


@events.test_stopping.add_listener
def end_even_if_a_user_hangs(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if not options or not options.headless or isinstance(environment.runner, WorkerRunner):
        return

    def terminate() -> None:
        log.error("users still running %s s after the end of the run; shutting down", STOP_GRACE_SECONDS)
        os.kill(os.getpid(), signal.SIGTERM)

    gevent.spawn_later(STOP_GRACE_SECONDS + (options.stop_timeout or 0), terminate)


@events.quitting.add_listener
def check_thresholds(environment: Environment, **_: Any) -> None:
    """Decide the exit code from the thresholds (the master's stats hold every worker's requests)."""
    runner = environment.runner
    if runner is None or isinstance(runner, WorkerRunner) or environment.parsed_options is None:
        return
    if environment.process_exit_code is not None:  # already decided elsewhere
        return
    if not environment.parsed_options.headless and runner.stats.total.num_requests == 0:
        return  # a web UI session that never ran a test: nothing to judge
    # Every group that a class which had users makes requests in must have been measured.
    counts = runner.final_user_classes_count or runner.user_classes_count
    expected = {group for cls in environment.user_classes if counts.get(cls.__name__) for group in cls.groups}
    verdict = thresholds.evaluate(
        runner.stats,
        thresholds.Limits.from_options(environment.parsed_options),
        expected,
        exceptions=sum(entry["count"] for entry in runner.exceptions.values()),
    )
    environment.process_exit_code = 0 if verdict.passed else 1

    # Printed last, after Locust's own summary, so the verdict is the end of the output.
    @events.quit.add_listener
    def print_verdict(**_: Any) -> None:
        print(thresholds.format_table(verdict), flush=True)
