"""The course's claims, runnable from Python or the command line.

    python -m beyondlazy.claims list
    python -m beyondlazy.claims run C0.1 --seed 3 --scale default --json
    python -m beyondlazy.claims run --all --scale paper --seeds 0-2 --save results/paper
    python -m beyondlazy.claims status results/paper
"""

from .registry import (
    Check,
    Claim,
    ClaimResult,
    ResultStatus,
    all_claims,
    claim,
    code_fingerprint,
    code_provenance,
    get_claim,
    result_path,
    result_status,
    run_claim,
)

__all__ = ["Check", "Claim", "ClaimResult", "ResultStatus", "all_claims", "claim", "code_fingerprint",
           "code_provenance", "get_claim", "result_path", "result_status", "run_claim"]
