"""Each notebook's run time under nbmake against the time its header states.

    python -m tools.notebook_times _build/test-results/notebooks.xml

Every chapter's header says how long the notebook runs ("the notebook runs in about 40 s on 2
CPU cores"), and every notebook should run in at most 60 s at the default scale on 2 cores (a
Binder session's size). This prints both for each notebook of the JUnit report that `make test`
writes, and flags a notebook over the budget or one whose header is off by more than half. It
is a measurement, printed at the end of `.ci/run`: it never fails the run (timings vary from one
machine to the next), but says what to update.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tools import notebooks

#: The longest a notebook may run at the default scale on 2 CPU cores, in seconds.
BUDGET_S = 60
#: How the header states the run time.
STATED = re.compile(r"the notebook runs in about (\d+) s on 2 CPU cores")


def stated_seconds(path: Path) -> int | None:
    """The run time the notebook's header states, in seconds (None if it states none)."""
    import json

    header = notebooks.source(json.loads(path.read_text())["cells"][0])
    found = STATED.search(" ".join(header.split()))
    return int(found.group(1)) if found else None


def measured_seconds(report: Path) -> dict[str, float]:
    """``{notebook stem: seconds}`` from a JUnit report of nbmake."""
    times = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname', '')} {case.get('name', '')} {case.get('file', '')}"
        found = re.search(r"([\w-]+)\.ipynb", name)
        if found:
            times[found.group(1)] = float(case.get("time", "nan"))
    return times


def verdict(measured: float, stated: int | None) -> str:
    if measured > BUDGET_S:
        return f"over the {BUDGET_S} s budget"
    if stated is None:
        return "the header states no run time"
    if not 0.5 * stated <= measured <= 1.5 * stated:
        return f"the header says about {stated} s: update it"
    return "ok"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    times = measured_seconds(Path(argv[0]))
    print(f"Notebook run times (budget {BUDGET_S} s on 2 CPU cores):")
    for path in notebooks.toc_notebooks():
        if path.stem not in times:
            print(f"  {path.stem:<32} not in the report")
            continue
        stated = stated_seconds(path)
        print(f"  {path.stem:<32} {times[path.stem]:5.0f} s  "
              f"(header: {'–' if stated is None else f'{stated} s'})  "
              f"{verdict(times[path.stem], stated)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
