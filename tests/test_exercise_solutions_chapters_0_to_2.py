"""The coding exercises of Chapters 0, 1 and 2: the stub runs clean, the solution passes the check.

A coding exercise is a stub cell defining a function that raises ``NotImplementedError``, followed
by a cell calling ``bl.exercises.check(name, ...)``; its solution is the ```python block of a
dropdown that defines the same function. For each one, the test runs the notebook's import cell
(the second code cell, by the conventions of ``tools.notebooks``) and the stub, then the check:
it must print "Not attempted yet"; then the solution and the check again: it must print
"Correct". The oracle is the library function each check compares against, on fresh inputs.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ["00_introduction", "01_lazy_linearization", "02_least_squares"]


def coding_exercises(notebook: str) -> list[dict]:
    """One dict per check cell: the function's name, the import, stub and check cells, and the
    solution blocks that define the function."""
    nb = json.loads((ROOT / "chapters" / f"{notebook}.ipynb").read_text())
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    markdown = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    blocks = [b for text in markdown for b in re.findall(r"```python\n(.*?)```", text, re.S)]
    found = []
    for k, cell in enumerate(code):
        match = re.search(r"bl\.exercises\.check\(\s*(\w+)", cell)
        if match is None:
            continue
        name = match.group(1)
        definition = re.compile(rf"^def {name}\(", re.M)
        found.append({
            "name": name, "imports": code[1], "check": cell,
            "stub": [c for c in code[:k] if definition.search(c)],
            "solutions": [b for b in blocks if definition.search(b)],
        })
    return found


def run(*sources: str) -> str:
    namespace: dict = {"__name__": "__main__"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for source in sources:
            exec(compile(source, "<notebook cell>", "exec"), namespace)
    return printed.getvalue()


EXERCISES = [pytest.param(notebook, exercise, id=f"{notebook}:{exercise['name']}")
             for notebook in NOTEBOOKS for exercise in coding_exercises(notebook)]


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_every_chapter_has_a_self_checking_coding_exercise(notebook):
    assert coding_exercises(notebook), f"{notebook} has no bl.exercises.check cell"


@pytest.mark.parametrize("notebook, exercise", EXERCISES)
def test_stub_is_not_attempted_and_the_solution_passes_the_check(notebook, exercise):
    assert len(exercise["stub"]) == 1, "one stub cell defines the function"
    assert len(exercise["solutions"]) == 1, "one solution block defines the function"
    stub_output = run(exercise["imports"], exercise["stub"][0], exercise["check"])
    assert "Not attempted yet" in stub_output
    solved_output = run(exercise["imports"], exercise["stub"][0], exercise["solutions"][0],
                        exercise["check"])
    assert "Correct:" in solved_output, solved_output
