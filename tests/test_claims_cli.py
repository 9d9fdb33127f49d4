"""The claims registry and its command line ``python -m beyondlazy.claims``."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from beyondlazy.claims import Check, ClaimResult, all_claims, claim, get_claim, run_claim
from beyondlazy.claims import registry
from beyondlazy.claims.__main__ import main
from beyondlazy.scale import ENV_VAR

ROOT = Path(__file__).resolve().parents[1]
PROVENANCE_KEYS = {"seed", "scale", "device", "commit", "torch"}


def cli(*args: str, scale: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    if scale is not None:
        env[ENV_VAR] = scale
    return subprocess.run([sys.executable, "-m", "beyondlazy.claims", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120)


def registered_ids() -> list[str]:
    return [c.id for c in all_claims()]


# ---------------------------------------------------------------------------------------------
# A temporary claim, removed from the registry afterwards
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def temporary_claim():
    """Register claim C999.1 whose checks the test chooses; record the (seed, scale) it is run with."""
    claim_id = "C999.1"
    assert claim_id not in registry._REGISTRY
    calls: list[tuple[int, str]] = []
    state = {"checks": []}

    @claim(claim_id, statement="a temporary claim", source="none", chapter="none",
           test="tests/test_claims_cli.py")
    def _measure(seed: int, scale: str) -> list[Check]:
        calls.append((seed, scale))
        return state["checks"]

    try:
        yield claim_id, state, calls
    finally:
        registry._REGISTRY.pop(claim_id, None)


# ---------------------------------------------------------------------------------------------
# list
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def listing() -> subprocess.CompletedProcess:
    return cli("list")


def test_list_prints_one_line_per_registered_claim_starting_with_its_id(listing):
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    ids = registered_ids()
    assert len(lines) == len(ids) and ids
    for line, claim_id in zip(lines, ids):
        assert line.split("\t")[0] == claim_id
        assert get_claim(claim_id).statement in line


def test_list_is_identical_at_paper_scale(listing):
    paper = cli("list", scale="paper")
    assert paper.returncode == 0, paper.stderr
    assert paper.stdout == listing.stdout


def test_list_in_process_includes_a_newly_registered_claim(temporary_claim, capsys):
    claim_id, _, calls = temporary_claim
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == registered_ids()
    assert lines[-1].startswith(claim_id + "\t")  # course order: C999.1 comes last
    assert calls == []  # listing does not run the claim


# ---------------------------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------------------------


def test_run_c0_1_json_exits_zero_with_passing_checks_and_provenance():
    result = cli("run", "C0.1", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["claim"] == "C0.1" and data["seed"] == 0 and data["scale"] == "default"
    assert data["holds"] is True
    assert data["checks"] and all(check["passed"] for check in data["checks"])
    for check in data["checks"]:  # each verdict agrees with its own numbers
        assert Check(check["name"], check["value"], check["relation"], check["bound"]).passed
    provenance = data["provenance"]
    assert PROVENANCE_KEYS <= set(provenance)
    assert provenance["seed"] == 0 and provenance["scale"] == "default"
    assert all(isinstance(provenance[k], str) and provenance[k] for k in ("device", "commit", "torch"))


def test_run_unknown_id_exits_2_listing_the_known_ids(capsys):
    assert main(["run", "C42.42"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "C42.42" in captured.err
    for claim_id in registered_ids():
        assert claim_id in captured.err


@pytest.mark.parametrize("args, mentions", [(["run", "C0.1", "--scale", "huge"], "huge"),
                                            (["run", "C0.1", "--seed", "-1"], "seed"),
                                            (["run", "C0.1", "--seed", "one"], "seed"),
                                            (["frobnicate"], "frobnicate")])
def test_bad_arguments_exit_2(capsys, args, mentions):
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert mentions in capsys.readouterr().err


def test_run_with_a_bad_scale_variable_exits_2_naming_it(temporary_claim, monkeypatch, capsys):
    claim_id, state, calls = temporary_claim
    state["checks"] = [Check("x", 0.0, "<=", 1.0)]
    monkeypatch.setenv(ENV_VAR, "huge")
    assert main(["run", claim_id]) == 2
    err = capsys.readouterr().err
    assert ENV_VAR in err and "'huge'" in err
    assert calls == []


def test_run_a_claim_that_does_not_hold_exits_1(temporary_claim, capsys):
    claim_id, state, _ = temporary_claim
    state["checks"] = [Check("holds", 0.5, "<=", 1.0), Check("fails", 2.0, "<=", 1.0)]
    assert main(["run", claim_id]) == 1
    out = capsys.readouterr().out
    assert "DOES NOT HOLD" in out and "FAILS" in out


def test_run_a_claim_that_holds_exits_0(temporary_claim, capsys):
    claim_id, state, _ = temporary_claim
    state["checks"] = [Check("holds", 0.5, "<=", 1.0), Check("also", 3.0, "in", (1.0, 5.0))]
    assert main(["run", claim_id]) == 0
    assert "HOLDS" in capsys.readouterr().out


def test_run_a_claim_without_checks_does_not_hold(temporary_claim, capsys):
    claim_id, state, _ = temporary_claim
    state["checks"] = []
    assert main(["run", claim_id, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["holds"] is False


def test_run_passes_seed_and_scale_to_the_claim(temporary_claim, monkeypatch, capsys):
    claim_id, state, calls = temporary_claim
    state["checks"] = [Check("ok", 0.0, "<=", 1.0)]
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert main(["run", claim_id]) == 0
    assert main(["run", claim_id, "--seed", "7", "--scale", "paper"]) == 0
    monkeypatch.setenv(ENV_VAR, "paper")
    assert main(["run", claim_id, "--seed", "3"]) == 0
    assert main(["run", claim_id, "--scale", "default"]) == 0  # the argument wins
    assert calls == [(0, "default"), (7, "paper"), (3, "paper"), (0, "default")]


def test_run_json_of_a_failing_claim_reports_each_check(temporary_claim, capsys, tmp_path):
    claim_id, state, _ = temporary_claim
    state["checks"] = [Check("low", 0.5, "<=", 1.0), Check("nan", math.nan, ">=", 0.0)]
    assert main(["run", claim_id, "--seed", "4", "--json", "--save", str(tmp_path)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["holds"] is False and data["seed"] == 4
    assert [c["passed"] for c in data["checks"]] == [True, False]
    saved = json.loads((tmp_path / f"{claim_id}-seed4-default.json").read_text())
    assert saved["checks"] == data["checks"] and saved["holds"] is False


def test_run_claim_rejects_a_negative_seed(temporary_claim):
    claim_id, _, calls = temporary_claim
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0; got -2"):
        run_claim(claim_id, seed=-2)
    assert calls == []


def test_registering_an_id_twice_is_refused(temporary_claim):
    claim_id, _, _ = temporary_claim
    with pytest.raises(ValueError, match="already registered"):
        claim(claim_id, statement="", source="", chapter="", test="")(lambda seed, scale: [])


def test_get_claim_of_unknown_id_raises_key_error_listing_known_ids():
    with pytest.raises(KeyError) as info:
        get_claim("C0.999")
    assert "C0.999" in info.value.args[0]
    assert all(claim_id in info.value.args[0] for claim_id in registered_ids())


def test_claims_are_listed_in_course_order(temporary_claim):
    extra = ["C999.10", "C999.2", "C10.1"]
    for claim_id in extra:
        claim(claim_id, statement="", source="", chapter="", test="")(lambda seed, scale: [])
    try:
        ids = registered_ids()
        key = [tuple(int(p) for p in i[1:].split(".")) for i in ids]
        assert key == sorted(key)
        assert ids.index("C999.2") < ids.index("C999.10")
    finally:
        for claim_id in extra:
            registry._REGISTRY.pop(claim_id, None)


# ---------------------------------------------------------------------------------------------
# Check and ClaimResult
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, relation, bound, passed",
    [(1.0, "<=", 1.0, True), (1.0 + 1e-12, "<=", 1.0, False), (-5.0, "<=", 1.0, True),
     (10.0, ">=", 10.0, True), (9.99, ">=", 10.0, False),
     (1.0, "in", (1.0, 2.0), True), (2.0, "in", (1.0, 2.0), True), (1.5, "in", (1.0, 2.0), True),
     (0.999, "in", (1.0, 2.0), False), (2.001, "in", (1.0, 2.0), False)],
)
def test_check_compares_value_with_bound(value, relation, bound, passed):
    assert Check("c", value, relation, bound).passed is passed


@pytest.mark.parametrize("relation, bound", [("<=", 1.0), (">=", -1.0), ("in", (-math.inf, math.inf))])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_check_never_passes_a_nan_or_infinite_value(value, relation, bound):
    check = Check("c", value, relation, bound)
    assert check.passed is False
    assert "FAILS" in check.describe()


def test_check_takes_tensor_values_and_rejects_unknown_relations():
    check = Check("ratio", torch.tensor(12.0, dtype=torch.float64), ">=", 10)
    assert isinstance(check.value, float) and check.value == 12.0 and check.bound == 10.0
    assert check.passed
    with pytest.raises(ValueError, match=r"relation must be one of '<=', '>=', 'in'; got '<'"):
        Check("c", 1.0, "<", 2.0)


def test_claim_result_save_writes_parseable_json(tmp_path):
    checks = (Check("a", 0.5, "<=", 1.0), Check("b", 1.5, "in", (1.0, 2.0)))
    result = ClaimResult("C0.1", 3, "paper", checks, 1.23456, {"seed": 3, "scale": "paper"})
    path = result.save(tmp_path / "results")
    assert path == tmp_path / "results" / "C0.1-seed3-paper.json"
    data = json.loads(path.read_text())
    assert data == json.loads(json.dumps(result.to_dict()))
    assert data["holds"] is True and data["seconds"] == 1.235
    assert data["checks"][1]["bound"] == [1.0, 2.0]
    assert [c["passed"] for c in data["checks"]] == [True, True]
