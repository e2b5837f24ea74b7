"""The swarm make test-swarm started (tests/swarm/run.py), from the environment it passes."""

import ipaddress
import os

import pytest

from tests.swarm.cluster import Cluster


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    if "SWARM_PREFIX" not in os.environ:
        pytest.fail("these tests need the swarm make test-swarm starts (tests/swarm/run.py)")
    return Cluster(os.environ["SWARM_PREFIX"], ipaddress.ip_network(os.environ["SWARM_SUBNET"]), http_port=0)


@pytest.fixture(scope="session")
def stack() -> str:
    return os.environ["SWARM_STACK"]


@pytest.fixture(scope="session")
def node_urls(cluster: Cluster) -> list[str]:
    return [f"http://{ip}:{cluster.stack_port}" for ip in cluster.node_ips]
