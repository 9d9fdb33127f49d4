"""The course's claims, runnable from Python or the command line.

    python -m beyondlazy.claims list
    python -m beyondlazy.claims run C0.1 --seed 3 --scale default --json
"""

from .registry import Check, Claim, ClaimResult, all_claims, claim, get_claim, run_claim

__all__ = ["Check", "Claim", "ClaimResult", "all_claims", "claim", "get_claim", "run_claim"]
