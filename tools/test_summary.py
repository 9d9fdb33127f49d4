"""Print one closing line for the whole test suite from pytest's JUnit XML reports.

    python -m tools.test_summary _build/test-results/*.xml
    -> "Tests: 290 passed, 0 failed, 7 skipped"

`make test` runs pytest twice (unit tests and claims, then nbmake over a scratch copy of the
book); this adds up both.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET


def main(paths: list[str]) -> int:
    total = failed = skipped = 0
    for path in paths:
        root = ET.parse(path).getroot()
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        for suite in suites:
            total += int(suite.get("tests", 0))
            failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped += int(suite.get("skipped", 0))
    passed = total - failed - skipped
    print(f"Tests: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or not total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
