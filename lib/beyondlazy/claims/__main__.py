"""Command line: ``python -m beyondlazy.claims {list, run ID [--seed N] [--scale S] [--json]}``.

Exit status: 0 the claim holds, 1 it does not, 2 unknown id or bad arguments.
"""

from __future__ import annotations

import argparse
import sys

from ..scale import SCALES
from .registry import all_claims, get_claim, run_claim


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer; got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m beyondlazy.claims",
        description="List or run the claims of the course 'Beyond the Lazy Regime'.",
        epilog="Exit status: 0 the claim holds, 1 it does not, 2 unknown id or bad arguments.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="one claim per line: id, chapter, statement")
    run = sub.add_parser("run", help="run one claim and compare with its thresholds")
    run.add_argument("claim_id", metavar="ID", help="a claim id, e.g. C0.1")
    run.add_argument("--seed", type=_non_negative_int, default=0, help="random seed (default 0)")
    run.add_argument(
        "--scale", choices=SCALES, default=None,
        help="problem size (default: $BEYONDLAZY_SCALE, else 'default')",
    )
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    run.add_argument("--save", metavar="DIR", help="also write the JSON result into DIR")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "list":
        for entry in all_claims():
            print(f"{entry.id}\t[{entry.chapter}]\t{entry.statement}")
        return 0
    try:
        get_claim(args.claim_id)
    except KeyError as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return 2
    try:
        result = run_claim(args.claim_id, seed=args.seed, scale=args.scale)
    except ValueError as err:  # e.g. a bad $BEYONDLAZY_SCALE
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.save:  # before printing: a closed pipe on stdout must not lose the result
        result.save(args.save)
    print(result.to_json() if args.json else result.report())
    return 0 if result.holds else 1


if __name__ == "__main__":
    sys.exit(main())
