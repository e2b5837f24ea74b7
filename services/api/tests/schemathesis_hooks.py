"""schemathesis hooks for test_schemathesis.py (loaded by the CLI through SCHEMATHESIS_HOOKS).

They keep the run's writes harmless for the rest of the suite, and drop the one finding that is
nginx's, not the api's. Environment: SCRATCH_API_URL (the api through nginx, ending in /api),
SCRATCH_IDS_FILE (one created product id per line, for the test to delete afterwards) and
WRITE_TOKEN (the write token, which the run's config also gives schemathesis for HTTPBearer).
"""

import os
import threading
import time

import httpx
import schemathesis
from pydantic import TypeAdapter, ValidationError
from schemathesis.core.failures import Failure
from schemathesis.openapi.checks import IgnoredAuth, UnsupportedMethodResponse

from tests.helpers import SEEDED_PRODUCT_IDS  # the CLI gets the project root on PYTHONPATH

AS_INT = TypeAdapter(int)
_lock = threading.Lock()


def record(product_id: int) -> None:
    with _lock, open(os.environ["SCRATCH_IDS_FILE"], "a") as ids:
        ids.write(f"{product_id}\n")


def names_seeded_product(value: object) -> bool:
    """Whether the api would read this path value as a seeded product's id (pydantic parses it there too)."""
    try:
        return AS_INT.validate_python(value) in SEEDED_PRODUCT_IDS
    except ValidationError:
        return False


def scratch_product() -> int:
    # In compose this machine is a client nginx limits: past the write rate, wait as told.
    while (response := create_scratch_product()).status_code == 429:
        time.sleep(float(response.headers.get("retry-after", "1")))
    response.raise_for_status()
    product_id = response.json()["product_id"]
    record(product_id)
    return product_id


def create_scratch_product() -> httpx.Response:
    return httpx.post(
        f"{os.environ['SCRATCH_API_URL']}/products",
        json={"product_name": "schemathesis scratch", "brand_id": 1},
        headers={"Authorization": f"Bearer {os.environ['WRITE_TOKEN']}"},
        timeout=10,
    )


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: dict) -> None:
    # A DELETE aimed at a seeded product deletes a scratch product instead: same route, same 204.
    if case.method.upper() == "DELETE" and names_seeded_product(case.path_parameters.get("product_id")):
        case.path_parameters["product_id"] = scratch_product()


@schemathesis.hook
def after_call(
    context: schemathesis.HookContext, case: schemathesis.Case, response: schemathesis.Response
) -> None:
    if case.method.upper() == "POST" and response.status_code == 201:
        record(response.json()["product_id"])


@schemathesis.hook
def filter_failure(
    context: schemathesis.HookContext,
    failure: Failure,
    case: schemathesis.Case,
    response: schemathesis.Response,
) -> bool:
    # Against compose this machine is a client nginx limits, and a check that met nginx's 429 saw
    # the edge doing its job, not the api (which never answers 429): say nothing about the api.
    if response.status_code == 429:
        return False
    # The same for the auth check's own requests (without a token, with a wrong one): they do not
    # wait out the write rate, and nginx's 429 to them is no sign the api let them through.
    if isinstance(failure, IgnoredAuth) and "got `429 " in failure.message:
        return False
    # nginx refuses TRACE itself while parsing the request (a 405 without Allow) before any location
    # applies, so the api never sees it and no configuration adds the header. Only that one finding
    # is dropped; every other check still holds for TRACE.
    return not (
        case.method.upper() == "TRACE"
        and isinstance(failure, UnsupportedMethodResponse)
        and failure.failure_reason == "missing_allow_header"
    )
