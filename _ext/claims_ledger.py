"""The claims ledger, built with the website from the claims registry and the measured results.

Directives (used in claims.md and paper-scale.md):

``claims-ledger``
    One row per registered claim: its statement, source, the chapter that shows it, the test that
    checks it, and the values the test run measured (read from the JSON results that
    `make test` saves, in $BEYONDLAZY_CLAIMS_RESULTS or <book>/_build/claims), with the verdict and
    the provenance (seed, scale, device, commit, versions). Nothing is recomputed here.
``paper-results``
    The results committed under results/paper/ (``python -m beyondlazy.claims run --all --scale
    paper --seeds 0-2 --save results/paper``): a sentence counting them per device, a summary table
    (per claim: seeds, how many hold, status, time of one run), then per claim the value of every
    check for every seed with its spread, and each result's status against the code now (current,
    stale, uncommitted, unknown; see :func:`beyondlazy.claims.result_status`), device, commit and
    date.
``paper-scale-table``
    For each claim: the time one run took at the default scale (from the test run) and at paper
    scale (from results/paper/, the range over the seeds), with the device of each.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections import defaultdict
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective


def _results(folder: Path, env=None) -> dict[str, list[dict]]:
    """Results by claim id; ``env`` notes the files so that the page is rebuilt when they change."""
    found: dict[str, list[dict]] = defaultdict(list)
    if env is not None and folder.is_dir():
        env.note_dependency(str(folder))
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            if env is not None:
                env.note_dependency(str(path))
            data = json.loads(path.read_text())
            found[data["claim"]].append(data)
    return found


def _commit(root: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _fmt(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return f"{value:.3g}"


def _checks(result: dict) -> list[str]:
    return [f"{c['name']}: {_fmt(c['value'])} ({c['relation']} {_fmt(c['bound'])})"
            + ("" if c["passed"] else " **fails**") for c in result["checks"]]


def _provenance(results: list[dict], current: str | None) -> str:
    p = results[0]["provenance"]
    seeds = ", ".join(str(r["seed"]) for r in results)
    commit = p.get("commit", "unknown")
    if commit.endswith("+dirty"):
        stale = " plus uncommitted changes"
    elif current is None or commit == current:
        stale = ""
    else:
        stale = " (an earlier commit)"
    return (f"seed{'s' if len(results) > 1 else ''} {seeds}; {p['scale']} scale; {p['device']}; "
            f"commit `{commit}`{stale}; beyondlazy {p['beyondlazy']}, torch {p['torch']}, "
            f"Python {p['python']}; {p['date']}")


def _anchor(claim_id: str) -> str:
    return "claim-" + claim_id.lower().replace(".", "-")


class _LedgerBase(SphinxDirective):
    has_content = False

    def book_root(self) -> Path:
        return Path(self.env.app.confdir)

    def render(self, lines: list[str]) -> list[nodes.Node]:
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source="claims-ledger"), self.content_offset, container)
        return container.children

    def chapter_link(self, chapter: str) -> str:
        match = re.match(r"Chapter (\d+)", chapter)
        if match:
            prefix = f"chapters/{int(match.group(1)):02d}"
            docs = sorted(d for d in self.env.found_docs if d.startswith(prefix))
            if docs:
                return f"{{doc}}`{chapter} </{docs[0]}>`"
        return chapter


class ClaimsLedger(_LedgerBase):
    def run(self):
        from beyondlazy.claims import all_claims

        folder = Path(os.environ.get("BEYONDLAZY_CLAIMS_RESULTS", self.book_root() / "_build" / "claims"))
        measured = _results(folder, self.env)
        current = _commit(self.book_root())
        summary = [":::{list-table}", ":header-rows: 1", "", "* - Claim", "  - Chapter",
                   "  - Verdict at the default scale"]
        blocks: list[str] = []
        for entry in all_claims():
            results = [r for r in measured.get(entry.id, []) if r["scale"] == "default"]
            if results:
                held = sum(r["holds"] for r in results)
                n = len(results)
                verdict = (f"holds for {held} of {n} seed{'s' if n > 1 else ''}" if held == n
                           else f"does not hold for {n - held} of {n} seeds")
                style = "tip" if held == n else "danger"
                details = [f"Measured (seed {results[0]['seed']} shown):", ""] + [
                    f"- {line}" for line in _checks(results[0])] + ["", f"{_provenance(results, current)}."]
            else:
                verdict, style = "not measured in this build", "note"
                details = ["Run `make test` before building the book: it saves the results this page "
                           "shows."]
            summary += [f"* - {{ref}}`{entry.id} <{_anchor(entry.id)}>`",
                        f"  - {self.chapter_link(entry.chapter)}",
                        f"  - {verdict}"]
            blocks += [f"({_anchor(entry.id)})=", f":::{{admonition}} {entry.id}: {verdict}",
                       f":class: {style}", "",
                       f"**{entry.statement}**", "",
                       f"*Source:* {entry.source}. *Shown in:* {self.chapter_link(entry.chapter)}. "
                       f"*Checked by:* `{entry.test}`.", ""] + details + [":::", ""]
        summary.append(":::")
        lines = summary + [""] + blocks
        return self.render(lines)


def _fingerprints(claims) -> dict[str, dict]:
    """The code fingerprint of each registered claim now (``{"fingerprint": None}`` if unavailable)."""
    from beyondlazy.claims import code_fingerprint

    found = {}
    for entry in claims:
        try:
            found[entry.id] = code_fingerprint(entry.measure)
        except (OSError, TypeError):
            found[entry.id] = {"fingerprint": None, "parts": {}}
    return found


def _device_kind(device: str) -> str:
    """``"cpu (2 threads, 2 cores)"`` → ``"CPU"``; ``"cuda (NVIDIA H100 80GB HBM3)"`` → the GPU's name."""
    match = re.match(r"(\w+)\s*(?:\((.*)\))?", device)
    kind, detail = (match.group(1), match.group(2)) if match else (device, None)
    if kind == "cpu":
        return "a CPU"
    if kind == "cuda" and detail:
        return detail
    return {"mps": "an Apple GPU (MPS)"}.get(kind, device)


# A table cell starting with ">" would be a block quote.
_RELATION_SIGNS = {"<=": "≤", ">=": "≥", "in": "in"}


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _span(values: list[float]) -> str:
    low, high = min(values), max(values)
    return _fmt(low) if _fmt(low) == _fmt(high) else f"{_fmt(low)} – {_fmt(high)}"


def device_summary(results: list[dict]) -> str:
    """One sentence counting the results per device kind, from their provenance."""
    kinds: dict[str, int] = defaultdict(int)
    for r in results:
        kinds[_device_kind(r["provenance"].get("device", "unknown"))] += 1
    parts = [f"{n} on {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))]
    if not parts:
        return "No paper-scale result has been committed yet."
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return (f"Of the {_count(len(results), 'result')} below ({_count(len({r['claim'] for r in results}), 'claim')}), "
            f"{listed} (read from each result's provenance).")


def paper_result_lines(claims, committed: dict[str, list[dict]], now: dict[str, dict],
                       link=lambda chapter: chapter) -> list[str]:
    """The MyST of the paper-scale ledger: a summary table, then one box per claim.

    ``claims`` are the registered claims in course order, ``committed`` the paper-scale results
    by claim id, ``now`` the code fingerprint of each claim now (:func:`_fingerprints`).
    """
    from beyondlazy.claims import result_status

    everything = [r for entry in claims for r in committed.get(entry.id, [])]
    statuses = {id(r): result_status(r, now.get(r["claim"], {"fingerprint": None})) for r in everything}
    tally: dict[str, int] = defaultdict(int)
    for status in statuses.values():
        tally[status.name] += 1
    order = ("current", "stale", "uncommitted", "unknown")
    lines = [device_summary(everything), ""]
    if everything:
        lines += ["Status of each result against the code now: "
                  + ", ".join(f"{tally[name]} {name}" for name in order if tally[name]) + ". "
                  "*Current*: the claim's code (its function and everything of the course's code "
                  "it uses) is unchanged since the result was computed, from committed code; "
                  "*stale*: that code changed since; *uncommitted*: computed from uncommitted "
                  "code; *unknown*: computed before code fingerprints were recorded. Only current "
                  "results show what the code now computes.", ""]
    summary = [":::{list-table}", ":header-rows: 1", "", "* - Claim", "  - Seeds", "  - Holds",
               "  - Status", "  - One run"]
    boxes: list[str] = []
    missing = []
    for entry in claims:
        results = sorted(committed.get(entry.id, []), key=lambda r: r["seed"])
        if not results:
            missing.append(entry.id)
            continue
        held = sum(bool(r["holds"]) for r in results)
        n = len(results)
        mine = [statuses[id(r)] for r in results]
        counts = defaultdict(int)
        for status in mine:
            counts[status.name] += 1
        status_text = ", ".join(f"{counts[name]} {name}" for name in order if counts[name])
        times = [float(r["seconds"]) for r in results]
        time_text = (f"{_span(times)} s" if len(times) > 1 else f"{times[0]:.3g} s")
        holds_text = f"{held} of {n}" if held == n else f"**{held} of {n}**"
        summary += [f"* - {{ref}}`{entry.id} <{_anchor(entry.id)}-paper>`",
                    f"  - {', '.join(str(r['seed']) for r in results)}",
                    f"  - {holds_text}", f"  - {status_text}", f"  - {time_text}"]
        style = "danger" if held < n else ("tip" if counts["current"] == n else "note")
        verdict = (f"holds for {held} of {n} seeds" if held == n
                   else f"does not hold for {n - held} of {n} seeds")
        boxes += [f"({_anchor(entry.id)}-paper)=", f"::::{{admonition}} {entry.id} at paper scale: {verdict}",
                  f":class: {style}", "", entry.statement, "",
                  f"*Shown in:* {link(entry.chapter)}.", ""]
        names: list[str] = []
        for r in results:
            for c in r["checks"]:
                if c["name"] not in names:
                    names.append(c["name"])
        table = [":::{list-table}", ":header-rows: 1", "", "* - Check", "  - Expected"]
        table += [f"  - seed {r['seed']}" for r in results]
        table += ["  - Spread over seeds"] if n > 1 else []
        for name in names:
            cells, values, expected = [], [], "—"
            for r in results:
                check = next((c for c in r["checks"] if c["name"] == name), None)
                if check is None:
                    cells.append("—")
                    continue
                expected = f"{_RELATION_SIGNS.get(check['relation'], check['relation'])} {_fmt(check['bound'])}"
                cells.append(_fmt(check["value"]) + ("" if check["passed"] else " **fails**"))
                if not isinstance(check["value"], list):
                    values.append(float(check["value"]))
            table += [f"* - {name}", f"  - {expected}"] + [f"  - {c}" for c in cells]
            if n > 1:
                table.append(f"  - {_span(values)}" if values else "  - —")
        table.append(":::")
        boxes += table + [""]
        for r, status in zip(results, mine):
            p = r["provenance"]
            reused = " (reused the run of a claim computed just before)" if p.get("reused_cached_run") else ""
            boxes.append(f"- Seed {r['seed']}: **{status.name}** ({status.detail}); "
                         f"{float(r['seconds']):.3g} s{reused} on {p.get('device', 'unknown')}; "
                         f"commit `{p.get('commit', 'unknown')}`; beyondlazy {p.get('beyondlazy', '?')}, "
                         f"torch {p.get('torch', '?')}; {p.get('date', '?')}.")
        boxes += ["", "::::", ""]
    summary.append(":::")
    if not everything:
        return lines
    lines += summary + [""]
    if missing:
        lines += [f"No paper-scale result yet for {', '.join(missing)}.", ""]
    return lines + boxes


def paper_scale_cell(results: list[dict], scale: str) -> str:
    """The time of one run at ``scale``: the range over seeds, the device(s)."""
    runs = [r for r in results if r["scale"] == scale]
    if not runs:
        return "not measured yet"
    times = [float(r["seconds"]) for r in runs]
    devices = sorted({r["provenance"].get("device", "unknown") for r in runs})
    seeds = f" over {len(runs)} seeds" if len(runs) > 1 else ""
    return f"{_span(times)} s{seeds} on {', '.join(devices)} (measured)"


class PaperResults(_LedgerBase):
    def run(self):
        from beyondlazy.claims import all_claims

        committed = _results(self.book_root() / "results" / "paper", self.env)
        claims = all_claims()
        paper = {k: [r for r in v if r["scale"] == "paper"] for k, v in committed.items()}
        return self.render(paper_result_lines(claims, paper, _fingerprints(claims), self.chapter_link))


class PaperScaleTable(_LedgerBase):
    def run(self):
        from beyondlazy.claims import all_claims

        folder = Path(os.environ.get("BEYONDLAZY_CLAIMS_RESULTS", self.book_root() / "_build" / "claims"))
        default = _results(folder, self.env)
        paper = _results(self.book_root() / "results" / "paper", self.env)
        lines = [":::{list-table}", ":header-rows: 1", "", "* - Claim",
                 "  - Default scale: one run", "  - Paper scale: one run"]
        for entry in all_claims():
            lines += [f"* - {entry.id}", f"  - {paper_scale_cell(default.get(entry.id, []), 'default')}",
                      f"  - {paper_scale_cell(paper.get(entry.id, []), 'paper')}"]
        lines.append(":::")
        return self.render(lines)


def setup(app):
    app.add_directive("claims-ledger", ClaimsLedger)
    app.add_directive("paper-results", PaperResults)
    app.add_directive("paper-scale-table", PaperScaleTable)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
