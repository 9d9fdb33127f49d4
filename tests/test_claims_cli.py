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


# ---------------------------------------------------------------------------------------------
# Several claims and seeds: seed ranges, resuming, interruption
# ---------------------------------------------------------------------------------------------

from beyondlazy.claims.__main__ import parse_seeds  # noqa: E402
from beyondlazy.claims import code_fingerprint, result_status  # noqa: E402


@pytest.mark.parametrize("text, seeds", [("0-2", (0, 1, 2)), ("3", (3,)), ("0,3,5-6", (0, 3, 5, 6)),
                                         ("2-2", (2,)), ("5,0-1,1", (0, 1, 5)), (" 1 - 3 ", (1, 2, 3))])
def test_parse_seeds_reads_lists_and_ranges(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["2-0", "-1", "a", "", "0,", "1-2-3", "0.5"])
def test_bad_seed_ranges_exit_2_naming_the_parameter(capsys, text):
    with pytest.raises(SystemExit) as info:
        main(["run", "C0.1", "--seeds", text])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "seeds" in err and repr(text) in err


def test_seed_and_seeds_are_exclusive(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "C0.1", "--seed", "1", "--seeds", "0-2"])
    assert info.value.code == 2


def test_run_without_a_claim_exits_2(capsys):
    assert main(["run", "--seeds", "0-1"]) == 2
    assert "--all" in capsys.readouterr().err


def test_only_and_chapter_select_claims_in_course_order(temporary_claim, monkeypatch):
    from beyondlazy.claims.__main__ import _parser, _selected

    def selected(*argv):
        return _selected(_parser().parse_args(["run", *argv]))

    ids = registered_ids()
    assert selected("--only", "C999.1,C0.1") == ["C0.1", "C999.1"]
    assert selected("--chapter", "999") == ["C999.1"]
    assert selected("--chapter", "2") == [i for i in ids if i.startswith("C2.")]
    assert selected("--all") == ids
    with pytest.raises(KeyError, match="C42.42"):
        selected("--only", "C42.42")


@pytest.fixture
def committed(monkeypatch):
    """Pretend the library is committed (the working copy a test runs in may not be)."""
    monkeypatch.setattr(registry, "_commit", lambda: "0123456789ab")


def _saved(folder: Path, claim_id: str, seed: int) -> dict:
    return json.loads((folder / f"{claim_id}-seed{seed}-paper.json").read_text())


def test_batch_run_saves_each_seed_and_resumes_skipping_current_results(
        temporary_claim, committed, tmp_path, capsys):
    claim_id, state, calls = temporary_claim
    state["checks"] = [Check("ok", 0.5, "<=", 1.0)]
    args = ["run", "--only", claim_id, "--seeds", "0-2", "--scale", "paper", "--save", str(tmp_path)]
    assert main(args) == 0
    assert calls == [(0, "paper"), (1, "paper"), (2, "paper")]
    out = capsys.readouterr().out
    assert "[1/3] C999.1 seed 0" in out and "[3/3] C999.1 seed 2" in out
    assert "about" in out.split("[3/3]")[1].splitlines()[0]  # an estimate from the runs before
    for seed in range(3):
        data = _saved(tmp_path, claim_id, seed)
        assert data["provenance"]["commit"] == "0123456789ab"
        assert data["provenance"]["code"]["fingerprint"]
        assert result_status(data).name == "current"

    calls.clear()
    assert main(args) == 0  # everything current: nothing runs
    assert calls == []
    assert "0 runs to do" in capsys.readouterr().out

    # A result from other code (stale), one without a fingerprint (unknown), one from uncommitted
    # code: all three are run again, the current one is not.
    stale = _saved(tmp_path, claim_id, 0)
    stale["provenance"]["code"]["fingerprint"] = "0" * 16
    (tmp_path / f"{claim_id}-seed0-paper.json").write_text(json.dumps(stale))
    unknown = _saved(tmp_path, claim_id, 1)
    del unknown["provenance"]["code"]
    (tmp_path / f"{claim_id}-seed1-paper.json").write_text(json.dumps(unknown))
    assert main(args + ["--seeds", "0-3"]) == 0
    assert calls == [(0, "paper"), (1, "paper"), (3, "paper")]
    assert result_status(_saved(tmp_path, claim_id, 0)).name == "current"

    calls.clear()
    assert main(args + ["--force"]) == 0  # --force reruns current results
    assert calls == [(0, "paper"), (1, "paper"), (2, "paper")]


def test_results_from_uncommitted_code_are_not_current_and_are_rerun(
        temporary_claim, monkeypatch, tmp_path):
    claim_id, state, calls = temporary_claim
    state["checks"] = [Check("ok", 0.5, "<=", 1.0)]
    monkeypatch.setattr(registry, "_commit", lambda: "0123456789ab+dirty")
    args = ["run", claim_id, "--seeds", "0", "--scale", "paper", "--save", str(tmp_path), "--force"]
    assert main(args) == 0
    status = result_status(_saved(tmp_path, claim_id, 0))
    assert status.name == "uncommitted" and "0123456789ab" in status.detail
    monkeypatch.setattr(registry, "_commit", lambda: "0123456789ab")
    calls.clear()
    assert main(args[:-1]) == 0
    assert calls == [(0, "paper")]


def test_an_interrupted_batch_keeps_the_finished_results_and_no_partial_file(
        temporary_claim, committed, tmp_path, capsys):
    claim_id, state, calls = temporary_claim
    entry = registry._REGISTRY[claim_id]

    def measure(seed, scale):
        if seed == 1:
            raise KeyboardInterrupt
        return [Check("ok", 0.5, "<=", 1.0)]

    registry._REGISTRY[claim_id] = registry.Claim(entry.id, entry.statement, entry.source, entry.chapter,
                                                  entry.test, measure)
    assert main(["run", claim_id, "--seeds", "0-2", "--scale", "paper", "--save", str(tmp_path)]) == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{claim_id}-seed0-paper.json"]
    assert "interrupted" in capsys.readouterr().err


def test_status_lists_each_saved_result_with_its_status(temporary_claim, committed, tmp_path, capsys):
    claim_id, state, _ = temporary_claim
    state["checks"] = [Check("ok", 2.0, "<=", 1.0)]
    assert main(["run", claim_id, "--seeds", "0-1", "--scale", "paper", "--save", str(tmp_path)]) == 1
    data = _saved(tmp_path, claim_id, 1)
    del data["provenance"]["code"]
    (tmp_path / f"{claim_id}-seed1-paper.json").write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["status", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:3] for line in lines] == [
        [f"{claim_id}-seed0-paper.json", "current", "DOES NOT HOLD"],
        [f"{claim_id}-seed1-paper.json", "unknown", "DOES NOT HOLD"]]


# ---------------------------------------------------------------------------------------------
# The fingerprint of a claim's code
# ---------------------------------------------------------------------------------------------

FAKE_MODULE = '''
from dataclasses import dataclass
from beyondlazy.claims import Check, claim


@dataclass(frozen=True)
class Config:
    size: int


SIZES = {"default": Config(size=SIZE_A), "paper": Config(size=8)}
OTHER = {"default": Config(size=SIZE_B)}


def helper(seed):
    return seed + HELPER_OFFSET


def sibling_helper(seed):
    return seed * SIBLING_FACTOR


@claim("C998.1", statement="one", source="none", chapter="none", test="none")
def first(seed, scale):
    # COMMENT
    return [Check("value", helper(seed) + SIZES[scale].size, "<=", BOUND)]


@claim("C998.2", statement="two", source="none", chapter="none", test="none")
def second(seed, scale):
    return [Check("value", sibling_helper(seed) + OTHER[scale].size, "<=", 10.0)]
'''


@pytest.fixture
def fake_module(tmp_path, monkeypatch):
    """Write, import and register a claims module; ``load(**changes)`` rewrites and reloads it."""
    import importlib

    import uuid

    monkeypatch.syspath_prepend(str(tmp_path))

    def load(**changes):
        values = {"SIZE_A": "4", "SIZE_B": "4", "HELPER_OFFSET": "1", "SIBLING_FACTOR": "2",
                  "BOUND": "10.0", "COMMENT": "a comment", **changes}
        text = FAKE_MODULE
        for key, value in values.items():
            text = text.replace(key, value)
        name = f"fake_claims_{uuid.uuid4().hex[:12]}"  # a new module each time: no stale source cache
        (tmp_path / f"{name}.py").write_text(text)
        for claim_id in ("C998.1", "C998.2"):
            registry._REGISTRY.pop(claim_id, None)
        importlib.import_module(name)
        return {cid: code_fingerprint(registry._REGISTRY[cid].measure) for cid in ("C998.1", "C998.2")}

    try:
        yield load
    finally:
        for claim_id in ("C998.1", "C998.2"):
            registry._REGISTRY.pop(claim_id, None)


def _unmoduled(fingerprint: dict) -> dict:
    """The parts without the module name (each load imports the module under a new name)."""
    return {k.split(".", 1)[1]: v for k, v in fingerprint["parts"].items() if k.startswith("fake_claims_")}


def test_fingerprint_covers_the_claim_its_helpers_and_its_configuration(fake_module):
    parts = _unmoduled(fake_module()["C998.1"])
    assert {"first", "helper", "SIZES", "Config"} <= set(parts)
    assert "sibling_helper" not in parts and "OTHER" not in parts and "second" not in parts


@pytest.mark.parametrize("change, part", [({"HELPER_OFFSET": "2"}, "helper"),
                                          ({"SIZE_A": "5"}, "SIZES"),
                                          ({"BOUND": "9.0"}, "first")])
def test_fingerprint_changes_with_the_code_the_claim_uses(fake_module, change, part):
    before = fake_module()
    after = fake_module(**change)
    assert after["C998.1"]["fingerprint"] != before["C998.1"]["fingerprint"]
    old, new = _unmoduled(before["C998.1"]), _unmoduled(after["C998.1"])
    assert [k for k in old if old[k] != new[k]] == [part]
    assert _unmoduled(after["C998.2"]) == _unmoduled(before["C998.2"])  # the sibling is untouched


@pytest.mark.parametrize("change", [{"SIBLING_FACTOR": "3"}, {"SIZE_B": "5"},
                                    {"COMMENT": "another comment"}])
def test_fingerprint_ignores_sibling_claims_code_and_comments(fake_module, change):
    before = _unmoduled(fake_module()["C998.1"])
    after = _unmoduled(fake_module(**change)["C998.1"])
    assert after == before


def test_fingerprint_follows_library_code_and_is_stable():
    entry = get_claim("C0.1")
    first, second = code_fingerprint(entry.measure), code_fingerprint(entry.measure)
    assert first == second and len(first["fingerprint"]) == 16
    assert "beyondlazy.claims.chapter0._c0_1" in first["parts"]
    assert "beyondlazy.claims.chapter0.TWO_INITS" in first["parts"]  # the configurations
    assert "beyondlazy.sensing.train_symmetric" in first["parts"] or any(
        k.endswith(".train_symmetric") for k in first["parts"])  # the library, transitively


def test_result_status_names_what_changed():
    now = {"fingerprint": "b" * 16, "parts": {"m.f": "1", "m.g": "2"}}
    base = {"claim": "C0.1", "provenance": {"commit": "abc"}}
    unknown = result_status(base, now)
    assert unknown.name == "unknown" and not unknown.current
    stale = result_status({**base, "provenance": {"commit": "abc", "code": {
        "fingerprint": "a" * 16, "parts": {"m.f": "1", "m.g": "3", "m.h": "4"}}}}, now)
    assert stale.name == "stale" and "`m.g`" in stale.detail and "`m.h`" in stale.detail
    assert "`m.f`" not in stale.detail
    dirty = result_status({**base, "provenance": {"commit": "abc+dirty", "code": now}}, now)
    assert dirty.name == "uncommitted"
    current = result_status({**base, "provenance": {"commit": "abc", "code": now}}, now)
    assert current.name == "current" and current.current


# ---------------------------------------------------------------------------------------------
# The paper-scale ledger of the website
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ledger_ext():
    sys.path.insert(0, str(ROOT / "_ext"))
    try:
        import claims_ledger
    finally:
        sys.path.remove(str(ROOT / "_ext"))
    return claims_ledger


def _result(seed, value, *, device="cpu (1 thread, 2 cores)", code=None, commit="abc", seconds=2.0):
    provenance = {"device": device, "commit": commit, "beyondlazy": "0.1.0", "torch": "2",
                  "date": "2026-01-01 00:00:00 UTC"}
    if code is not None:
        provenance["code"] = code
    return {"claim": "C0.1", "seed": seed, "scale": "paper", "holds": value <= 1.0, "seconds": seconds,
            "checks": [{"name": "error", "value": value, "relation": "<=", "bound": 1.0,
                        "passed": value <= 1.0}],
            "provenance": provenance}


def test_paper_ledger_shows_status_spread_and_devices_of_each_result(ledger_ext):
    now = {"fingerprint": "f" * 16, "parts": {"m.f": "1"}}
    old = {"fingerprint": "e" * 16, "parts": {"m.f": "0"}}
    results = [_result(0, 0.25, code=now, seconds=3.0), _result(1, 0.75, code=old),
               _result(2, 1.5, device="cuda (NVIDIA H100 80GB HBM3)", seconds=7.0)]
    lines = ledger_ext.paper_result_lines([get_claim("C0.1")], {"C0.1": results}, {"C0.1": now})
    text = "\n".join(lines)
    assert "Of the 3 results below (1 claim), 2 on a CPU and 1 on NVIDIA H100 80GB HBM3" in text
    assert "1 current, 1 stale, 1 unknown" in text
    assert "**1 of 2**" not in text and "**2 of 3**" in text  # the summary row: 2 of 3 hold
    assert "does not hold for 1 of 3 seeds" in text
    assert "Seed 0: **current**" in text and "Seed 1: **stale**" in text and "`m.f`" in text
    assert "Seed 2: **unknown**" in text
    assert "  - 0.25 – 1.5" in text  # the spread of the check over the seeds
    assert "1.5 **fails**" in text
    assert "  - 2 – 7 s" in text  # the range of the time of one run
    assert ":class: danger" in text


def test_paper_ledger_without_results_says_so(ledger_ext):
    lines = ledger_ext.paper_result_lines([get_claim("C0.1")], {}, {})
    assert lines[0] == "No paper-scale result has been committed yet."


def test_paper_scale_time_cell_gives_the_range_over_seeds(ledger_ext):
    results = [_result(0, 0.5, seconds=3.0), _result(1, 0.5, seconds=5.0)]
    assert ledger_ext.paper_scale_cell(results, "paper") == \
        "3 – 5 s over 2 seeds on cpu (1 thread, 2 cores) (measured)"
    assert ledger_ext.paper_scale_cell(results, "default") == "not measured yet"


def test_time_left_scales_recorded_times_by_the_pace_of_this_machine():
    from beyondlazy.claims.__main__ import _eta

    rest = [("C1.1", 1), ("C1.2", 0), ("C1.3", 0)]
    recorded = {"C1.1": 10.0, "C1.2": 100.0}
    assert _eta(rest, recorded, {}) == "about 2 min left; + 1 run(s) never timed"  # 110 s
    # C1.1 took 30 s here against 10 s recorded: C1.2 is expected to take 300 s, C1.3 the average
    text = _eta(rest, recorded, {"C1.1": [30.0]})
    assert text == "about 6 min left; runs take 3x their recorded times so far"  # 30 + 300 + 30 s
    assert _eta([("C9.9", 0)], {}, {}) == "time left unknown"
