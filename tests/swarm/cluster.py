"""A three-node Docker Swarm on one Docker host, for make test-swarm.

Three `docker:28-dind` containers (privileged) on a network of their own are the nodes: the first
inits the swarm and is its manager, the other two join as workers. A `registry:2` container beside
them holds the images: this host pushes to it through a published loopback port (Docker trusts a
registry on 127.0.0.1 without TLS), the nodes pull from it by name (`--insecure-registry`). The
nodes also use it as their Docker Hub mirror, so `postgres:15`, which the stack names as compose
does, comes from it too (this runner puts it there: a machine without internet has to).

Everything is named <prefix>-…, so it never touches anything else on the host, and remove() takes
it all away again. Each node's engine listens on tcp 2375 (no TLS: the network is this host's own),
which is how the tests reach a node's Docker (`docker -H tcp://<node>:2375 …`).
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
from dataclasses import dataclass

from dev.stack import free_port

NODE_IMAGE = "docker:28-dind"
REGISTRY_IMAGE = "registry:2"
DB_LABEL = "async-web-stack.db"
NODES = 3


def run(*command: str, timeout: float = 600, check: bool = True, **kwargs) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout


@dataclass
class Cluster:
    prefix: str
    # Half for the nodes' own network, half for the stack's load overlay (Locust's, which must not
    # overlap the nodes' network).
    subnet: ipaddress.IPv4Network
    # The first node's nginx port is also published on this host's loopback (as compose's is), so
    # the end-to-end suite runs against a loopback URL exactly as it does against compose.
    http_port: int
    stack_port: int = 8080

    @property
    def nodes_subnet(self) -> ipaddress.IPv4Network:
        return list(self.subnet.subnets(prefixlen_diff=1))[0]

    @property
    def load_subnet(self) -> ipaddress.IPv4Network:
        return list(self.subnet.subnets(prefixlen_diff=1))[1]

    @property
    def network(self) -> str:
        return f"{self.prefix}-nodes"

    @property
    def registry(self) -> str:
        return f"{self.prefix}-registry"

    @property
    def node_names(self) -> list[str]:
        return [f"{self.prefix}-node{i}" for i in range(1, NODES + 1)]

    @property
    def node_ips(self) -> list[str]:
        return [str(self.nodes_subnet[11 + i]) for i in range(NODES)]

    def node_host(self, index: int) -> str:
        return f"tcp://{self.node_ips[index]}:2375"

    @property
    def manager(self) -> str:
        return self.node_host(0)

    def on(self, index: int, *args: str, timeout: float = 600, check: bool = True) -> str:
        """A docker command against node `index`'s engine."""
        return run("docker", "-H", self.node_host(index), *args, timeout=timeout, check=check)

    def registry_port(self) -> int:
        binding = run("docker", "port", self.registry, "5000/tcp").split()[0]
        return int(binding.rsplit(":", 1)[1])

    # -- up and down ------------------------------------------------------------------------------
    def start(self) -> None:
        run("docker", "network", "create", "--subnet", str(self.nodes_subnet), self.network)
        for attempt in range(3):  # a free port may be taken between finding and binding it
            run("docker", "rm", "-f", self.registry, check=False)
            started = run(
                "docker", "run", "-d", "--name", self.registry, "--network", self.network,
                "-p", f"127.0.0.1:{free_port()}:5000", REGISTRY_IMAGE, check=attempt == 2,
            )
            if started.strip() and run("docker", "port", self.registry, "5000/tcp", check=False).strip():
                break
        registry = f"{self.registry}:5000"
        for name, ip in zip(self.node_names, self.node_ips):
            run(
                "docker", "run", "-d", "--privileged", "--name", name, "--hostname", name,
                "--network", self.network, "--ip", ip, "-e", "DOCKER_TLS_CERTDIR=",
                *(["-p", f"127.0.0.1:{self.http_port}:{self.stack_port}"] if name == self.node_names[0] else []),
                "-v", f"{name}-docker:/var/lib/docker", NODE_IMAGE,
                "--insecure-registry", registry, "--registry-mirror", f"http://{registry}",
            )
        for index in range(NODES):
            self.wait_engine(index)
        self.on(0, "swarm", "init", "--advertise-addr", self.node_ips[0])
        token = self.on(0, "swarm", "join-token", "-q", "worker").strip()
        for index in range(1, NODES):
            self.on(index, "swarm", "join", "--token", token, f"{self.node_ips[0]}:2377")
        # The database's node: the manager, so that losing a worker never takes the data along.
        self.on(0, "node", "update", "--label-add", f"{DB_LABEL}=true", self.node_names[0])

    def wait_engine(self, index: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.on(index, "info", "--format", "{{.ID}}", check=False, timeout=10).strip() == "":
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {self.node_names[index]}'s engine did not start")
            time.sleep(0.5)

    def remove(self) -> None:
        # The tags `make stack-images` pushed through the registry's loopback port name this run's
        # port: untag them, or every run leaves a set of them on the engine.
        if binding := run("docker", "port", self.registry, "5000/tcp", check=False).split():
            pushed = f"127.0.0.1:{binding[0].rsplit(':', 1)[1]}/"
            tags = run("docker", "images", "--format", "{{.Repository}}:{{.Tag}}", check=False).split()
            if mine := [tag for tag in tags if tag.startswith(pushed)]:
                run("docker", "rmi", *mine, check=False)
        for name in [*self.node_names, self.registry]:
            run("docker", "rm", "-f", "-v", name, check=False)
        for name in self.node_names:
            run("docker", "volume", "rm", "-f", f"{name}-docker", check=False)
        run("docker", "network", "rm", self.network, check=False)

    # -- what the tests read ----------------------------------------------------------------------
    def tasks(self, service: str) -> list[dict]:
        """The service's tasks that should be running, with the node each is on."""
        out = self.on(0, "service", "ps", "--filter", "desired-state=running", "--format", "{{json .}}", service)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def running_tasks(self, service: str) -> list[dict]:
        return [task for task in self.tasks(service) if task["CurrentState"].startswith("Running")]
