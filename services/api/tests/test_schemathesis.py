"""Property-based run of the live OpenAPI document, through nginx, with the schemathesis CLI.

The write token is given to schemathesis as the credentials of the document's HTTPBearer scheme (a
config file naming an environment variable: never on the command line), so it also checks that the
writes refuse a missing or wrong token with 401 (ignored_auth, missing required header).

Every operation gets schemathesis's coverage cases (boundary and invalid values of each parameter and
body field), up to MAX_EXAMPLES generated cases, and stateful sequences (create, then read and delete
what the Location header names), with every check: no 5xx, and status codes, content types, headers
and bodies as declared; invalid input rejected, valid input accepted, methods not declared refused.
Any failure makes the CLI exit non-zero and fails the test, with its report.

Its writes stay harmless for the other tests (see schemathesis_hooks.py): a DELETE aimed at a seeded
product deletes a scratch product instead, every product the run creates is deleted afterwards, and
the test then checks that the seeded products are all still there.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx
from schemathesis.core.failures import Failure, ServerError
from schemathesis.openapi.checks import AuthScenario, IgnoredAuth, UnsupportedMethodResponse

from dev.stack import ROOT
from tests.helpers import FIRST_PRODUCT, SEEDED_PRODUCT_IDS

HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
MAX_EXAMPLES = 50


def all_product_ids(http: httpx.Client) -> set[int]:
    ids: set[int] = set()
    url: str | None = "/api/products?limit=500"
    while url:
        page = http.get(url).json()
        ids.update(item["product_id"] for item in page["items"])
        url = page["next"]
    return ids


def test_api_conforms_to_its_openapi_document(
    base_url: str, http: httpx.Client, write_token: str, tmp_path: Path
) -> None:
    scratch_ids = tmp_path / "scratch-ids"
    scratch_ids.touch()
    config = tmp_path / "schemathesis.toml"
    config.write_text('[auth.openapi.HTTPBearer]\nbearer = "${WRITE_TOKEN}"\n')
    command = [
        Path(sys.executable).with_name("schemathesis"), "--config-file", str(config),
        "run", f"{base_url}/api/openapi.json",
        "--checks", "all",
        "--max-examples", str(MAX_EXAMPLES),
        "--workers", "2",
        "--request-timeout", "10",
        # Against compose this machine is a client nginx limits: past a rate, wait the Retry-After
        # of its 429 and send again (natively 127.0.0.1 is not limited and it never comes to that).
        "--rate-limit", "auto",
        "--suppress-health-check", "too_slow,filter_too_much",
        "--warnings", "off",
        "--no-color",
    ]  # fmt: skip
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": str(HOOKS),
        "PYTHONPATH": str(ROOT),  # the hooks import tests.helpers
        "SCRATCH_API_URL": f"{base_url}/api",
        "SCRATCH_IDS_FILE": str(scratch_ids),
        "WRITE_TOKEN": write_token,
    }
    try:
        run = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    finally:
        for product_id in sorted({int(line) for line in scratch_ids.read_text().split()}):
            # `http` waits out the write rate that limits this machine in compose.
            assert http.delete(f"/api/products/{product_id}").status_code in (204, 404)
    report = run.stdout[-20_000:] + run.stderr[-5_000:]
    assert run.returncode == 0, report
    assert "Tested: 10" in run.stdout, report  # every operation was reached, none skipped

    assert set(SEEDED_PRODUCT_IDS) <= all_product_ids(http)
    assert http.get("/api/products/1").json() == FIRST_PRODUCT


def test_the_hooks_drop_only_the_missing_allow_of_nginxs_trace_405_and_nginxs_429s() -> None:
    spec = importlib.util.spec_from_file_location("schemathesis_hooks", HOOKS)
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)

    def missing_allow(method: str) -> Failure:
        return UnsupportedMethodResponse(
            operation="GET /brands", method=method, status_code=405, failure_reason="missing_allow_header", message=""
        )

    def kept(method: str, failure: Failure, status: int = 405) -> bool:
        response = SimpleNamespace(status_code=status)
        return hooks.filter_failure(None, failure, SimpleNamespace(method=method), response)

    assert not kept("TRACE", missing_allow("TRACE"))
    assert kept("PATCH", missing_allow("PATCH"))
    wrong_status = UnsupportedMethodResponse(
        operation="GET /brands", method="TRACE", status_code=200, failure_reason="wrong_status", message=""
    )
    assert kept("TRACE", wrong_status)
    assert kept("TRACE", ServerError(operation="GET /brands", status_code=500), 500)
    # A check that met nginx's per-client limit (compose) says nothing about the api.
    assert not kept("DELETE", ServerError(operation="DELETE /products/{product_id}", status_code=429), 429)

    def ignored_auth(status: str) -> Failure:
        message = f"Expected 401 or 403, got `{status}` for `POST /products`"
        return IgnoredAuth(operation="POST /products", message=message, scenario=AuthScenario.NO_AUTH)

    # The auth check's own request without a token met nginx's write limit: nothing about the api.
    assert not kept("POST", ignored_auth("429 Too Many Requests"), 201)
    assert kept("POST", ignored_auth("201 Created"), 201)
    assert kept("POST", ignored_auth("422 Unprocessable Entity"), 201)
