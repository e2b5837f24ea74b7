"""wrk, the load generator: one bounded run against one URL, and its text output parsed."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from dev.stack import apt_install

# wrk prints durations with the largest unit that keeps the number >= 1 (see wrk's units.c).
TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
DURATION = r"([\d.]+)(us|ms|s|m|h)"


class WrkOutputError(ValueError):
    """wrk's output lacks a line every completed run prints."""


@dataclass(frozen=True)
class WrkOptions:
    threads: int = 1
    connections: int = 200
    duration_s: float = 30
    timeout_s: float = 2  # wrk's default: a response slower than this counts as a timeout

    def arguments(self, duration_s: float | None = None) -> list[str]:
        seconds = max(1, round(duration_s if duration_s is not None else self.duration_s))
        return [
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{seconds}s",
            f"--timeout={self.timeout_s:g}s",
            "--latency",
        ]


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int  # wrk counts statuses >= 400 here ("Non-2xx or 3xx responses")
    expected_404: int  # of those, 404s the script asked for on purpose (mix.lua's missing ids)
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int

    @property
    def errors(self) -> int:
        """Every failed request except timeouts, which are reported on their own."""
        unexpected = self.non_2xx - self.expected_404
        return unexpected + self.connect_errors + self.read_errors + self.write_errors

    def as_dict(self) -> dict:
        return {**asdict(self), "errors": self.errors}


def to_ms(value: str, unit: str) -> float:
    return float(value) * TIME_UNITS_MS[unit]


def parse(output: str) -> WrkResult:
    def required(pattern: str) -> re.Match:
        match = re.search(pattern, output, flags=re.MULTILINE)
        if match is None:
            raise WrkOutputError(f"no line matching {pattern!r} in wrk's output:\n{output}")
        return match

    total = required(rf"^\s*(\d+) requests in {DURATION}")
    rate = required(r"^Requests/sec:\s+([\d.]+)")
    p50 = required(rf"^\s*50(?:\.0+)?%\s+{DURATION}")
    p99 = required(rf"^\s*99(?:\.0+)?%\s+{DURATION}")
    # Both lines appear only when their counts are not all zero.
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    connect, read, write, timeouts = (int(n) for n in sockets.groups()) if sockets else (0, 0, 0, 0)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    expected_404 = re.search(r"^Expected 404 responses: (\d+)", output, flags=re.MULTILINE)
    return WrkResult(
        requests=int(total.group(1)),
        duration_s=to_ms(total.group(2), total.group(3)) / 1000,
        requests_per_s=float(rate.group(1)),
        p50_ms=to_ms(p50.group(1), p50.group(2)),
        p99_ms=to_ms(p99.group(1), p99.group(2)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        expected_404=int(expected_404.group(1)) if expected_404 else 0,
        connect_errors=connect,
        read_errors=read,
        write_errors=write,
        timeouts=timeouts,
    )


def ensure_wrk() -> str:
    if shutil.which("wrk") is None:
        apt_install(["wrk"])
    return shutil.which("wrk") or "wrk"


def version() -> str:
    # `wrk -v` prints its version line, then the usage, and exits 1.
    result = subprocess.run([ensure_wrk(), "-v"], capture_output=True, text=True)
    first_line = (result.stdout or result.stderr).splitlines()[0]
    return first_line.split(" Copyright")[0].strip()


def run(
    url: str,
    options: WrkOptions,
    script: Path | None = None,
    script_args: list[str] | None = None,
    duration_s: float | None = None,
) -> tuple[WrkResult, str]:
    """One wrk run; killed if it outlives its duration by 30 s. Returns the parsed result and the raw text."""
    command = [ensure_wrk(), *options.arguments(duration_s)]
    if script is not None:
        command += ["-s", str(script)]
    command.append(url)
    if script_args:
        command += ["--", *script_args]
    limit = (duration_s if duration_s is not None else options.duration_s) + 30
    completed = subprocess.run(command, capture_output=True, text=True, timeout=limit)
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        raise RuntimeError(f"wrk exited with {completed.returncode}:\n{output}")
    return parse(output), output
