"""The claims ledger, built with the website from the claims registry and the measured results.

Directives (used in claims.md and paper-scale.md):

``claims-ledger``
    One row per registered claim: its statement, source, the chapter that shows it, the test that
    checks it, and the values the test run measured (read from the JSON results that
    `make test` saves, in $BEYONDLAZY_CLAIMS_RESULTS or <book>/_build/claims), with the verdict and
    the provenance (seed, scale, device, commit, versions). Nothing is recomputed here.
``paper-results``
    The results committed under results/paper/ (``python -m beyondlazy.claims run ID --scale paper
    --save results/paper``), each marked with the device, date and commit it was computed on.
``paper-scale-table``
    For each claim: the time one run took at the default scale (from the test run) and at paper
    scale (from results/paper/), with the device of each.
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
    stale = "" if current is None or commit == current else " (an earlier commit)"
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


class PaperResults(_LedgerBase):
    def run(self):
        from beyondlazy.claims import all_claims

        committed = _results(self.book_root() / "results" / "paper", self.env)
        lines: list[str] = []
        for entry in all_claims():
            results = [r for r in committed.get(entry.id, []) if r["scale"] == "paper"]
            if not results:
                continue
            p = results[0]["provenance"]
            held = sum(r["holds"] for r in results)
            lines += [f":::{{admonition}} {entry.id}: computed at paper scale on {p['device']}, "
                      f"{p['date'][:10]}", ":class: note", "",
                      entry.statement, "",
                      f"**{'Holds' if held == len(results) else 'Does not hold'}** for {held} of "
                      f"{len(results)} seeds ({', '.join(str(r['seed']) for r in results)}); "
                      f"{results[0]['seconds']:.1f} s for one run. Seed {results[0]['seed']}:", ""]
            lines += [f"- {line}" for line in _checks(results[0])]
            lines += ["", f"Commit `{p['commit']}`, beyondlazy {p['beyondlazy']}, torch {p['torch']}.",
                      ":::", ""]
        if not lines:
            lines = ["No paper-scale result has been committed yet."]
        return self.render(lines)


class PaperScaleTable(_LedgerBase):
    def run(self):
        from beyondlazy.claims import all_claims

        folder = Path(os.environ.get("BEYONDLAZY_CLAIMS_RESULTS", self.book_root() / "_build" / "claims"))
        default = _results(folder, self.env)
        paper = _results(self.book_root() / "results" / "paper", self.env)
        lines = [":::{list-table}", ":header-rows: 1", "", "* - Claim",
                 "  - Default scale: one run", "  - Paper scale: one run"]

        def cell(results, scale):
            runs = [r for r in results if r["scale"] == scale]
            if not runs:
                return "not measured yet"
            seconds = max(r["seconds"] for r in runs)
            return f"{seconds:.1f} s on {runs[0]['provenance']['device']} (measured)"

        for entry in all_claims():
            lines += [f"* - {entry.id}", f"  - {cell(default.get(entry.id, []), 'default')}",
                      f"  - {cell(paper.get(entry.id, []), 'paper')}"]
        lines.append(":::")
        return self.render(lines)


def setup(app):
    app.add_directive("claims-ledger", ClaimsLedger)
    app.add_directive("paper-results", PaperResults)
    app.add_directive("paper-scale-table", PaperScaleTable)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
