"""Every registered claim of the course holds at the default scale, for each of its test seeds."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from beyondlazy.claims import all_claims, run_claim

ROOT = Path(__file__).resolve().parent.parent
CLAIM_IDS = [c.id for c in all_claims()]


@pytest.mark.claim
@pytest.mark.parametrize("claim_id", CLAIM_IDS)
def test_claim_holds(claim_id):
    entry = next(c for c in all_claims() if c.id == claim_id)
    out = os.environ.get("BEYONDLAZY_CLAIMS_OUT")
    for seed in entry.test_seeds:
        result = run_claim(claim_id, seed=seed, scale="default")
        if out:  # the site's claims ledger reuses these results
            result.save(out)
        assert result.holds, result.report()


def test_every_registered_claim_names_an_existing_test():
    for entry in all_claims():
        path, _, node = entry.test.partition("::")
        function = re.sub(r"\[.*\]$", "", node)
        assert (ROOT / path).is_file(), f"{entry.id}: test file {path} does not exist"
        assert f"def {function}(" in (ROOT / path).read_text(), f"{entry.id}: no {function} in {path}"


def test_claim_ids_are_unique_and_follow_the_course_numbering():
    assert len(CLAIM_IDS) == len(set(CLAIM_IDS))
    # C<chapter>.<number>, for a chapter that has a notebook (chapters/05a_… is Chapter 5)
    chapters = {int(p.name[:2]) for p in (ROOT / "chapters").glob("[0-9][0-9]*.ipynb")}
    for claim_id in CLAIM_IDS:
        match = re.fullmatch(r"C(\d+)\.\d+", claim_id)
        assert match and int(match.group(1)) in chapters, claim_id


def test_every_claim_has_a_statement_source_and_chapter():
    for entry in all_claims():
        assert len(entry.statement) > 40 and entry.source and entry.chapter.startswith("Chapter")


def test_claim_modules_are_discovered_one_per_chapter():
    from beyondlazy.claims.registry import claim_modules

    modules = claim_modules()
    assert "beyondlazy.claims.chapter0" in modules
    files = sorted(p.stem for p in (ROOT / "lib/beyondlazy/claims").glob("chapter*.py"))
    assert [m.rsplit(".", 1)[1] for m in modules] == files
