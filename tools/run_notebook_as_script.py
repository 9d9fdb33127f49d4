"""Run a notebook's code cells as one Python script (no Jupyter needed), and time it.

For machines without Jupyter, e.g. a GPU box with only torch: the set-up cell is skipped and
figures are rendered but not displayed.

    python -m tools.run_notebook_as_script chapters/00_introduction.ipynb
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(path: str) -> None:
    nb = json.loads(Path(path).read_text())
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"][1:]
    namespace: dict = {"__name__": "__main__"}
    start = time.perf_counter()
    for i, source in enumerate(cells, start=2):
        exec(compile(source, f"{path}[code cell {i}]", "exec"), namespace)
    print(f"{path}: {len(cells)} code cells in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1])
