"""Command line of the claims registry.

    python -m beyondlazy.claims list
    python -m beyondlazy.claims run C0.1 [--seed N] [--scale S] [--json] [--save DIR]
    python -m beyondlazy.claims run --all --scale paper --seeds 0-2 --save results/paper
    python -m beyondlazy.claims run --only C3.1,C3.2 --chapter 4 --seeds 0,3-5 --save DIR
    python -m beyondlazy.claims status results/paper [--scale paper]

``run`` with several claims or seeds runs them one after the other with a progress line each
(and an estimate of the time left). With ``--save``, a result already in DIR that is current for
the code now (see :func:`beyondlazy.claims.registry.result_status`) is skipped, so an interrupted
run resumes where it stopped; ``--force`` reruns it anyway. Each result is written atomically as
soon as it is computed: Ctrl-C loses only the run in progress.

Exit status: 0 every claim run holds, 1 one does not, 2 unknown id or bad arguments, 130
interrupted.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from ..device import default_device, describe_device
from ..scale import SCALES, current_scale
from .registry import (
    all_claims, code_provenance, get_claim, result_path, result_status, run_claim,
)


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer; got {text!r}")
    return value


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0-2"`` → (0, 1, 2); ``"0,3,5-6"`` → (0, 3, 5, 6): sorted, without repeats."""
    seeds: set[int] = set()
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not match:
            raise argparse.ArgumentTypeError(
                f"seeds must be non-negative integers and ranges such as '0-2' or '0,3,5-6'; got {text!r}")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            raise argparse.ArgumentTypeError(
                f"seeds: a range must go up ('{low}-{high}' is empty); got {text!r}")
        seeds.update(range(low, high + 1))
    return tuple(sorted(seeds))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m beyondlazy.claims",
        description="List, run or check the results of the claims of the course 'Beyond the Lazy Regime'.",
        epilog="Exit status: 0 every claim run holds, 1 one does not, 2 unknown id or bad arguments, "
               "130 interrupted.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="one claim per line: id, chapter, statement")
    run = sub.add_parser(
        "run", help="run claims and compare with their thresholds",
        description="Run one claim, or several (--all, --only, --chapter) for several seeds. With "
                    "--save, results already saved and current for the code now are skipped.")
    run.add_argument("claim_ids", metavar="ID", nargs="*", help="claim ids, e.g. C0.1 C3.2")
    run.add_argument("--all", action="store_true", help="every registered claim")
    run.add_argument("--only", metavar="IDS", help="comma-separated claim ids, e.g. C3.1,C3.2")
    run.add_argument("--chapter", metavar="N", action="append", type=_non_negative_int,
                     help="the claims of chapter N (repeatable)")
    seeds = run.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=_non_negative_int, default=None, help="random seed (default 0)")
    seeds.add_argument("--seeds", type=parse_seeds, default=None,
                       help="several seeds: '0-2', '0,3,5-6'")
    run.add_argument(
        "--scale", choices=SCALES, default=None,
        help="problem size (default: $BEYONDLAZY_SCALE, else 'default')",
    )
    run.add_argument("--json", action="store_true", help="print each result as JSON")
    run.add_argument("--save", metavar="DIR", help="also write each JSON result into DIR")
    run.add_argument("--force", action="store_true",
                     help="with --save: rerun results that are already current")
    run.add_argument("--fastest-first", action="store_true",
                     help="run the claims in order of their last recorded time in DIR (unknown last)")
    status = sub.add_parser("status", help="the status of saved results: current, stale, "
                                           "uncommitted or unknown")
    status.add_argument("folder", metavar="DIR", help="a folder of saved results, e.g. results/paper")
    status.add_argument("--scale", choices=SCALES, default=None, help="only results at this scale")
    return parser


def _selected(args) -> list[str]:
    """The claim ids the arguments name, in course order (``KeyError`` for an unknown id)."""
    ids: list[str] = list(args.claim_ids)
    if args.only:
        ids += [i.strip() for i in args.only.split(",") if i.strip()]
    for claim_id in ids:
        get_claim(claim_id)
    order = [c.id for c in all_claims()]
    chosen = set(ids)
    if args.all:
        chosen |= set(order)
    for chapter in args.chapter or ():
        chosen |= {i for i in order if i.split(".")[0] == f"C{chapter}"}
    return [i for i in order if i in chosen]


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _eta(rest: list[tuple[str, int]], recorded: dict[str, float], timed: dict[str, list[float]]) -> str:
    """An estimate of the time the runs ``rest`` take.

    A run of a claim timed in this batch is estimated by its average here; else by the claim's
    recorded time (the saved result) scaled by how much slower or faster this machine has been
    than the recorded times so far (a loaded machine); a claim never timed, by the average run.
    """
    pace = [(recorded[c], t) for c, times in timed.items() if recorded.get(c, 0) > 0 for t in times]
    ratio = sum(now for _, now in pace) / sum(before for before, _ in pace) if pace else 1.0
    everything = [t for times in timed.values() for t in times]
    estimates = []
    for claim_id, _ in rest:
        if timed.get(claim_id):
            estimates.append(sum(timed[claim_id]) / len(timed[claim_id]))
        elif claim_id in recorded:
            estimates.append(recorded[claim_id] * ratio)
        else:
            estimates.append(sum(everything) / len(everything) if everything else None)
    known = [e for e in estimates if e is not None]
    if not known:
        return "time left unknown"
    unknown = len(estimates) - len(known)
    scaled = f"; runs take {ratio:.2g}x their recorded times so far" if abs(ratio - 1) > 0.1 else ""
    return (f"about {_duration(sum(known))} left{scaled}"
            + (f"; + {unknown} run(s) never timed" if unknown else ""))


def _run_many(ids: list[str], seeds: tuple[int, ...], scale: str, args) -> int:
    folder = Path(args.save) if args.save else None
    code = {claim_id: code_provenance(claim_id) for claim_id in ids}  # the code as it is now
    # The longest recorded time of each claim on this kind of device (for the estimates: a GPU's
    # time says little about a CPU's), and on any device (for --fastest-first).
    recorded: dict[str, float] = {}
    anywhere: dict[str, float] = {}
    kind = describe_device(default_device()).split(" ")[0]
    todo: list[tuple[str, int]] = []
    skipped = 0
    for claim_id in ids:
        for seed in seeds:
            saved = _load(result_path(folder, claim_id, seed, scale)) if folder else None
            if saved is not None:
                seconds = float(saved.get("seconds", 0.0))
                anywhere[claim_id] = max(anywhere.get(claim_id, 0.0), seconds)
                if str(saved.get("provenance", {}).get("device", "")).split(" ")[0] == kind:
                    recorded[claim_id] = max(recorded.get(claim_id, 0.0), seconds)
                if not args.force and result_status(saved, code[claim_id]["code"]).current:
                    skipped += 1
                    continue
            todo.append((claim_id, seed))
    if args.fastest_first:
        todo.sort(key=lambda item: (anywhere.get(item[0], float("inf")), ids.index(item[0]), item[1]))
    total = len(todo) + skipped
    print(f"{len(todo)} run{'s' if len(todo) != 1 else ''} to do at the {scale} scale "
          f"({skipped} of {total} already current{' in ' + str(folder) if folder else ''})", flush=True)
    timed: dict[str, list[float]] = {}
    failures = 0
    for index, (claim_id, seed) in enumerate(todo):
        print(f"[{index + 1}/{len(todo)}] {claim_id} seed {seed}: running "
              f"({_eta(todo[index:], recorded, timed)})", flush=True)
        try:
            result = run_claim(claim_id, seed=seed, scale=scale, code=code[claim_id])
        except KeyboardInterrupt:
            print(f"interrupted during {claim_id} seed {seed}; {index} result(s) of this run saved",
                  file=sys.stderr)
            return 130
        if folder:
            result.save(folder)
        timed.setdefault(claim_id, []).append(result.seconds)
        failures += not result.holds
        print(result.to_json() if args.json else result.report(), flush=True)
    print(f"done: {len(todo) - failures} of {len(todo)} run(s) hold", flush=True)
    return 0 if failures == 0 else 1


def _status(folder: Path, scale: str | None) -> int:
    if not folder.is_dir():
        print(f"error: folder must be an existing directory; got {str(folder)!r}", file=sys.stderr)
        return 2
    now: dict[str, dict | None] = {}
    for path in sorted(folder.glob("*.json")):
        data = _load(path)
        if data is None or "claim" not in data or (scale and data.get("scale") != scale):
            continue
        claim_id = data["claim"]
        if claim_id not in now:
            try:
                now[claim_id] = code_provenance(claim_id)["code"]
            except KeyError:
                now[claim_id] = None
        status = (result_status(data, now[claim_id]) if now[claim_id] is not None
                  else result_status(data, {"fingerprint": None, "parts": {}}))
        verdict = "holds" if data.get("holds") else "DOES NOT HOLD"
        print(f"{path.name}\t{status.name}\t{verdict}\t{data.get('seconds', 0):.1f} s\t"
              f"{data.get('provenance', {}).get('device', '?')}\t{status.detail}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "list":
        for entry in all_claims():
            print(f"{entry.id}\t[{entry.chapter}]\t{entry.statement}")
        return 0
    if args.command == "status":
        return _status(Path(args.folder), args.scale)
    try:
        ids = _selected(args)
    except KeyError as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return 2
    if not ids:
        print("error: name a claim id, --only IDS, --chapter N or --all", file=sys.stderr)
        return 2
    seeds = args.seeds if args.seeds is not None else (args.seed if args.seed is not None else 0,)
    try:
        scale = current_scale(args.scale)
    except ValueError as err:  # e.g. a bad $BEYONDLAZY_SCALE
        print(f"error: {err}", file=sys.stderr)
        return 2
    if len(ids) > 1 or len(seeds) > 1 or args.force or args.fastest_first:
        return _run_many(ids, seeds, scale, args)
    result = run_claim(ids[0], seed=seeds[0], scale=scale)
    if args.save:  # before printing: a closed pipe on stdout must not lose the result
        result.save(args.save)
    print(result.to_json() if args.json else result.report())
    return 0 if result.holds else 1


if __name__ == "__main__":
    sys.exit(main())
