"""What CI runs with and how tools are fetched: the workflow's token reads only, every action is
pinned by a full commit SHA, and the Makefile installs one uv version."""

import re

import yaml

from dev.stack import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def test_every_workflow_token_may_only_read_the_repository() -> None:
    assert WORKFLOWS
    for workflow in WORKFLOWS:
        spec = yaml.safe_load(workflow.read_text())
        assert spec["permissions"] == {"contents": "read"}, workflow.name
        for name, job in spec["jobs"].items():
            assert job.get("permissions", spec["permissions"]) == {"contents": "read"}, (workflow.name, name)


def test_every_action_is_pinned_by_a_full_commit_sha() -> None:
    for workflow in WORKFLOWS:
        uses = re.findall(r"^\s*-?\s*uses:\s*(\S+)", workflow.read_text(), flags=re.MULTILINE)
        assert uses, workflow.name
        for action in uses:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", action), action


def test_the_makefile_installs_a_pinned_uv() -> None:
    makefile = (ROOT / "Makefile").read_text()
    version = re.search(r"^UV_VERSION := (\d+\.\d+\.\d+)$", makefile, flags=re.MULTILINE)
    assert version
    installs = re.findall(r"pip install [^|\n]*\buv\S*", makefile)
    assert installs and all(line.endswith("uv==$(UV_VERSION)") for line in installs), installs
