"""Request ids and the audit trail, through nginx: each service returns the request's X-Request-ID,
and every request that may change data is one JSON `audit` line in that service's log (client
address as nginx saw it, method, path, status, request id). The logs are read where the stack keeps
them: natively its logs folder, in compose `docker compose logs`."""

import ipaddress
import json
import os
import subprocess
import time
import uuid

import httpx
import pytest

from dev.stack import Stack

SPOOFED_CLIENT = "203.0.113.9"  # a client claiming to be someone else


def new_id() -> str:
    return f"test-{uuid.uuid4().hex}"


def log_lines(native_stack: Stack | None, service: str) -> list[dict]:
    if native_stack is not None:
        text = (native_stack.logs_dir / f"{service}.log").read_text(errors="replace")
    else:
        project = os.environ["STACK_COMPOSE_PROJECT"]
        command = ["docker", "compose", "-p", project, "logs", "--no-log-prefix", "--no-color", service]
        text = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue  # not one of the JSON log lines (e.g. PostgreSQL's or a traceback's)
    return lines


def logged(native_stack: Stack | None, service: str, request_id: str, wait: float = 15) -> list[dict]:
    """The log lines of `service` that carry `request_id`, once there is at least one."""
    deadline = time.monotonic() + wait
    while True:
        found = [line for line in log_lines(native_stack, service) if line.get("request_id") == request_id]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def send(client: httpx.Client, method: str, path: str, request_id: str, **kwargs) -> httpx.Response:
    headers = {"X-Request-ID": request_id, "X-Real-IP": SPOOFED_CLIENT, **kwargs.pop("headers", {})}
    return client.request(method, path, headers=headers, **kwargs)


def assert_audited(line: dict, method: str, path: str, status: int, request_id: str) -> None:
    assert (line["logger"], line["message"]) == ("audit", "write")
    what = [line[key] for key in ("method", "path", "status", "request_id")]
    assert what == [method, path, status, request_id]
    # The address nginx saw (X-Real-IP is set by nginx), never what the client claimed.
    ipaddress.ip_address(line["client"])
    assert line["client"] != SPOOFED_CLIENT


@pytest.mark.parametrize("path", ["/api/products/1", "/legacy/products/1"])
def test_a_read_returns_its_request_id_and_is_not_audited(
    http: httpx.Client, native_stack: Stack | None, path: str
) -> None:
    request_id = new_id()
    response = send(http, "GET", path, request_id)
    assert response.status_code == 200
    assert response.headers.get_list("x-request-id") == [request_id]
    service = path.split("/")[1]
    assert logged(native_stack, service, request_id, wait=1) == []  # reads are nginx's to log


def test_every_api_write_is_one_audit_line(
    http: httpx.Client, anonymous: httpx.Client, native_stack: Stack | None
) -> None:
    ids = {name: new_id() for name in ("create", "delete", "refused", "invalid")}
    body = {"product_name": "Audited", "brand_id": 2}
    created = send(http, "POST", "/api/products", ids["create"], json=body)
    assert created.status_code == 201
    assert created.headers.get_list("x-request-id") == [ids["create"]]
    product_id = created.json()["product_id"]
    assert send(http, "DELETE", f"/api/products/{product_id}", ids["delete"]).status_code == 204
    refused = send(anonymous, "DELETE", "/api/products/1", ids["refused"])
    assert refused.status_code == 401 and refused.headers.get_list("x-request-id") == [ids["refused"]]
    invalid = send(http, "POST", "/api/products", ids["invalid"], json={"brand_id": 2})
    assert invalid.status_code == 422

    expected = {
        "create": ("POST", "/products", 201),
        "delete": ("DELETE", f"/products/{product_id}", 204),
        "refused": ("DELETE", "/products/1", 401),
        "invalid": ("POST", "/products", 422),
    }
    for name, (method, path, status) in expected.items():
        [line] = logged(native_stack, "api", ids[name])
        assert_audited(line, method, path, status, ids[name])


def test_a_write_attempt_on_legacy_is_audited(http: httpx.Client, native_stack: Stack | None) -> None:
    request_id = new_id()
    response = send(http, "DELETE", "/legacy/products/1", request_id)
    assert response.status_code == 405
    [line] = logged(native_stack, "legacy", request_id)
    assert_audited(line, "DELETE", "/products/1", 405, request_id)


@pytest.mark.parametrize("malformed", ["has spaces", "x" * 200, "quote\"s", "semi;colon"])
def test_a_malformed_request_id_is_not_returned(http: httpx.Client, malformed: str) -> None:
    response = http.get("/api/products/1", headers={"X-Request-ID": malformed})
    assert response.status_code == 200
    assert malformed not in response.headers.get_list("x-request-id")


def test_the_counter_returns_the_request_id_and_logs_a_refused_origin(
    base_url: str, native_stack: Stack | None
) -> None:
    # Plain HTTP to the websocket route is answered by the counter itself (426), with the id.
    request_id = new_id()
    response = httpx.get(f"{base_url}/counter", headers={"X-Request-ID": request_id}, timeout=10)
    assert response.status_code == 426
    assert response.headers.get_list("x-request-id") == [request_id]
    refused_id = new_id()
    handshake = {
        "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Origin": "http://evil.example",
        "X-Request-ID": refused_id,
    }  # fmt: skip
    refused = httpx.get(f"{base_url}/counter", headers=handshake, timeout=10)
    assert refused.status_code == 403
    assert refused.headers.get_list("x-request-id") == [refused_id]
    [line] = logged(native_stack, "counter", refused_id)
    assert line["level"] == "WARNING" and "evil.example" in line["message"]
