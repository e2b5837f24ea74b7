"""A load generator aims at one host: loopback by default, anything else only when named explicitly."""

import ipaddress
from urllib.parse import urlsplit

from locust.argument_parser import LocustArgumentParser

LOOPBACK_NAMES = {"localhost"}


def add_options(parser: LocustArgumentParser) -> None:
    parser.add_argument(
        "--allowed-hosts",
        env_var="LOCUST_ALLOWED_HOSTS",
        default="",
        # Not in the web UI: whoever can reach the UI must not widen what it may target.
        include_in_web_ui=False,
        help="Comma-separated host names besides loopback that this run may target (compose: nginx)",
    )


def parse_allowed(value: str) -> set[str]:
    return {name.strip().lower() for name in value.split(",") if name.strip()}


def is_loopback(hostname: str) -> bool:
    if hostname.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def refusal(url: str | None, allowed: set[str]) -> str | None:
    """Why `url` may not be load-tested, or None when it may."""
    if not url:
        return "no host given (--host)"
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return f"{url!r} is not an http(s):// URL"
    if is_loopback(parts.hostname) or parts.hostname.lower() in allowed:
        return None
    return (
        f"refusing to load-test {url}: {parts.hostname} is not a loopback address. "
        f"Name it in --allowed-hosts (LOCUST_ALLOWED_HOSTS, make loadtest ALLOWED_HOSTS=...) if you mean it."
    )


def refusal_for(url: str | None, options: object) -> str | None:
    """refusal() with the hosts Locust's parsed options allow. Fails closed: no options, loopback only."""
    return refusal(url, parse_allowed(getattr(options, "allowed_hosts", "") or ""))
