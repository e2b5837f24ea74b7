"""The HTTP users: readers of /api and /legacy, and a writer of /api, weighted like a shop's traffic.

Every response is checked, not only its status: a 200 with the wrong body is a failure. Expected
404s (ids that cannot exist) are successes; an unexpected one is a failure.
"""

import logging
import random
import uuid
from pathlib import Path
from typing import Any, ClassVar

from locust import FastHttpUser, between, task
from locust.argument_parser import LocustArgumentParser
from locust.exception import StopUser

from loadtest import hosts, routes
from loadtest.routes import Group, Route

# Seeded ids 1..1000 always exist (1000 × SEED_SCALE products, SEED_SCALE >= 1) and the writer only
# deletes what it created; ids from MISSING_IDS are far beyond anything a run inserts.
SEEDED_PRODUCTS = 1000
SEEDED_BRANDS = 100
MISSING_IDS = (1_000_000_000, 2**31 - 1)
MISS_SHARE = 0.1
MAX_PAGES_PER_VISIT = 5
log = logging.getLogger("loadtest")


def add_options(parser: LocustArgumentParser) -> None:
    parser.add_argument(
        "--write-token-file",
        env_var="LOCUST_WRITE_TOKEN_FILE",
        default="",
        # Not in the web UI: it names a secret on the machine Locust runs on.
        include_in_web_ui=False,
        help="File of the api's write tokens, one per line; ApiWriter sends the first (make secrets)",
    )


def write_token(options: object) -> str | None:
    """The first token of --write-token-file, or None when there is none to read."""
    path = getattr(options, "write_token_file", "") or ""
    try:
        tokens = Path(path).read_text().split() if path else []
    except OSError as exc:
        log.error("cannot read the write token file: %s", exc)
        return None
    return tokens[0] if tokens else None


class StackUser(FastHttpUser):
    """Shared by the HTTP users: bounded timeouts and the target guard."""

    abstract = True
    # The threshold check expects requests from each group a selected user class declares.
    groups: ClassVar[frozenset[Group]] = frozenset()
    network_timeout = 10.0
    connection_timeout = 5.0

    def on_start(self) -> None:
        stop_unless_allowed(self)

    def call(self, route: Route, path: str, **kwargs: Any) -> Any:
        """self.rest(): JSON parsed into .js, a failed assert or exception marks the request failed."""
        return self.rest(route.method, path, name=route.name, **kwargs)

    def get_brands(self, path: str, route: Route) -> None:
        with self.call(route, path) as response:
            assert response.status_code == 200, f"{response.status_code},"
            assert len(response.js) >= SEEDED_BRANDS, f"only {len(response.js)} brands,"

    def get_product(self, prefix: str, route: Route, missing_route: Route) -> None:
        """A seeded product by id, or (MISS_SHARE of the time) one that cannot exist."""
        if random.random() < MISS_SHARE:
            product_id = random.randint(*MISSING_IDS)
            with self.call(missing_route, f"{prefix}/{product_id}") as response:
                assert response.status_code == 404, f"expected 404, got {response.status_code}"
                assert response.js["error"] == "not_found", "404 without the JSON error body,"
                response.success()
            return
        product_id = random.randint(1, SEEDED_PRODUCTS)
        with self.call(route, f"{prefix}/{product_id}") as response:
            assert response.status_code == 200, f"product {product_id}: {response.status_code},"
            assert response.js["product_id"] == product_id, "a different product came back,"


def stop_unless_allowed(user: Any) -> None:
    if hosts.refusal_for(user.host, user.environment.parsed_options):
        raise StopUser()


class ApiReader(StackUser):
    """Browses the catalogue through /api: product pages are the bulk, brands the menu."""

    weight = 6
    wait_time = between(0.5, 2)
    groups = frozenset({Group.API_READ})

    @task(1)
    def brands(self) -> None:
        self.get_brands("/api/brands", routes.API_BRANDS)

    @task(3)
    def browse_products(self) -> None:
        """Walk the keyset pages from the start, following next_after, as a visitor paging on."""
        after: int | None = 0
        for _ in range(random.randint(1, MAX_PAGES_PER_VISIT)):
            if after is None:
                break
            with self.call(routes.API_PRODUCTS_PAGE, f"/api/products?after={after}") as response:
                assert response.status_code == 200, f"{response.status_code},"
                items = response.js["items"]
                assert items and items[0]["product_id"] > after, "page does not start after the cursor,"
                after = response.js["next_after"]

    @task(6)
    def product(self) -> None:
        self.get_product("/api/products", routes.API_PRODUCT, routes.API_PRODUCT_MISSING)


class LegacyReader(StackUser):
    """The older clients on /legacy: products by id, brands, the time."""

    weight = 3
    wait_time = between(0.5, 2)
    groups = frozenset({Group.LEGACY})

    @task(1)
    def brands(self) -> None:
        self.get_brands("/legacy/brands", routes.LEGACY_BRANDS)

    @task(5)
    def product(self) -> None:
        self.get_product("/legacy/products", routes.LEGACY_PRODUCT, routes.LEGACY_PRODUCT_MISSING)

    @task(1)
    def time_of_day(self) -> None:
        with self.call(routes.LEGACY_TIME, "/legacy/time") as response:
            assert response.status_code == 200, f"{response.status_code},"
            assert set(response.js) == {"month", "day", "time"}, "unexpected body,"


class ApiWriter(StackUser):
    """Creates a product, reads it back at its Location, deletes it: leaves the catalogue as it found it."""

    weight = 1
    wait_time = between(1, 3)
    groups = frozenset({Group.API_WRITE, Group.API_READ})

    def on_start(self) -> None:
        super().on_start()
        self.created: set[str] = set()
        token = write_token(self.environment.parsed_options)
        if token is None:
            log.error("ApiWriter needs a write token: --write-token-file (LOCUST_WRITE_TOKEN_FILE)")
            raise StopUser()
        # Writes need the bearer token; the read-back in between carries it too, as a real client's would.
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, route: Route, path: str, **kwargs: Any) -> Any:
        return super().call(route, path, headers=self.headers, **kwargs)

    def on_stop(self) -> None:
        # A run that stops mid-task still deletes what this user created.
        for location in list(self.created):
            self.delete(location)

    @task
    def create_read_delete(self) -> None:
        body = {
            "product_name": f"Load test {uuid.uuid4().hex[:12]}",
            "brand_id": random.randint(1, SEEDED_BRANDS),
        }
        location = None
        with self.call(routes.API_CREATE_PRODUCT, "/api/products", json=body) as response:
            assert response.status_code == 201, f"{response.status_code},"
            location = response.headers.get("Location")
            assert location == f"/api/products/{response.js['product_id']}", f"Location {location!r},"
            self.created.add(location)
        if location not in self.created:
            return
        with self.call(routes.API_PRODUCT, location) as response:
            assert response.status_code == 200, f"{response.status_code},"
            assert response.js["product_name"] == body["product_name"], "read back a different product,"
        self.delete(location)

    def delete(self, location: str) -> None:
        with self.call(routes.API_DELETE_PRODUCT, location) as response:
            assert response.status_code == 204, f"{response.status_code},"
            self.created.discard(location)
