"""One gradient step of symmetric matrix sensing against this machine's limits (Chapter 3).

The physical floor of a step is one read of the smallest exact representation of the operator,
the symmetrized upper triangle: m·n(n+1)/2 numbers, at the read bandwidth measured here. This
script measures, in one run on one device, in interleaved rounds: each cell is timed right
after the limit it is compared with (the reductions before a step, the GEMMs before a batched
step), and the best ratio over the rounds is reported, so that a noisy neighbour or a clock
that drops under sustained load affects a cell and its limit alike:

* the read bandwidth, the faster of two large reductions over 1 GiB (torch's sum, and numpy's
  matrix–vector product with a ones vector, i.e. row sums), and the square GEMM rate
  (2048³, float32), the faster of torch's and numpy's;
* one GD step at the talk's scale (n = 200, r* = 5, m = 10⁴, float32) for r ∈ {5, 50, 200}, as
  a ratio to the floor, for each CPU streaming engine (``backend``) and several block sizes
  (``all`` = two full matrix products); the numpy engine runs as ``train_symmetric`` runs it,
  with torch on one thread;
* the naive baseline: einsum over the dense (m, n, n) tensor (beyondlazy.sensing);
* a batch of K = 1, 8, 32 runs in one step, as a fraction of the GEMM rate (4·m·p·K flops).

    .venv/bin/python benchmarks/bench_sensing.py [--device cuda] [--rounds 3] [--skip-dense]
"""

from __future__ import annotations

import argparse
from contextlib import nullcontext
from functools import partial

import numpy as np
import torch

from beyondlazy import describe_device, rng
from beyondlazy.device import one_cpu_thread
from beyondlazy.factorized import symmetric_loss_and_grad
from beyondlazy.operators import SymmetricOperator, symmetric_operator
from beyondlazy.sensing import symmetric_loss_and_grad as dense_loss_and_grad
from timing import time_call  # benchmarks/timing.py

WIDTHS = (5, 50, 200)
BATCHES = (1, 8, 32)


class Rounds:
    """The best time of each named cell over interleaved rounds (each after a warm-up call)."""

    def __init__(self, device):
        self.device, self.best, self.last = device, {}, {}

    def time(self, key, fn, context=nullcontext) -> float:
        with context():
            fn()
            seconds = time_call(fn, self.device)
        self.last[key] = seconds
        self.best[key] = min(self.best.get(key, float("inf")), seconds)
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--rank", type=int, default=5)
    parser.add_argument("--m", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-dense", action="store_true", help="skip the einsum baseline")
    args = parser.parse_args()
    device = torch.device(args.device)
    cpu = device.type == "cpu"
    n, m = args.n, args.m
    p = n * (n + 1) // 2
    operator_bytes = m * p * 4

    base = symmetric_operator(n, m, rng.generator(0), dtype=torch.float32, device=device)
    X = torch.linalg.qr(rng.randn((n, args.rank), rng.generator(1), dtype=torch.float64))[0]
    X = X.to(dtype=torch.float32, device=device)
    y = base.measure(X @ X.T)
    row_bytes = p * 4
    blocks = {"2 MB": 2 << 20, "4 MB": 4 << 20, "8 MB": 8 << 20, "all": None} if cpu else {
        "all": None}
    backends = ("torch", "numpy") if cpu else ("torch",)
    steps, batched = {}, {}
    for backend in backends:
        for label, size in blocks.items():
            rows = m if size is None else max(8, size // row_bytes)
            op = SymmetricOperator(base.M, rows, n, backend=backend)
            steps[backend, label] = symmetric_loss_and_grad(op, y)
    for backend in backends:
        for label in ("4 MB", "all") if cpu else ("all",):
            batched[backend, label] = steps[backend, label]
    U = {r: 1e-3 * rng.randn((n, r), rng.generator(2), dtype=torch.float32, device=device)
         for r in WIDTHS}
    UK = {K: 1e-3 * rng.randn((K, n, args.rank), rng.generator(3), dtype=torch.float32,
                              device=device) for K in BATCHES}

    ones_gib = torch.ones(1 << 28, dtype=torch.float32, device=device)  # 1 GiB
    rows_gib = ones_gib.reshape(1 << 14, 1 << 14)
    a = torch.randn(2048, 2048, device=device)
    b = torch.randn(2048, 2048, device=device)
    limits = {"torch sum": lambda: ones_gib.sum(), "torch GEMM": lambda: a @ b}
    if cpu:
        rows_np, ones_np = rows_gib.numpy(), np.ones(1 << 14, dtype=np.float32)
        a_np, b_np = a.numpy(), b.numpy()
        limits["numpy row sums"] = lambda: rows_np @ ones_np
        limits["numpy GEMM"] = lambda: a_np @ b_np

    def threads(backend):  # as train_symmetric runs each engine
        return partial(one_cpu_thread, device) if backend == "numpy" else nullcontext

    timer = Rounds(device)
    floor_ratio, gemm_share = {}, {}  # each cell against the limit timed just before it

    def paired(kind: str):
        keys = [k for k in limits if kind in k]
        for key in keys:
            timer.time(key, limits[key])
        return keys

    for _ in range(args.rounds):
        for (backend, label), step in steps.items():
            for r in WIDTHS:
                keys = paired("sum")
                seconds = timer.time(("step", backend, label, r), lambda: step(U[r]),
                                     threads(backend))
                read = {k: (1 << 30) / timer.last[k] for k in keys}
                for name, rate in (("max", max(read.values())), ("torch", read["torch sum"])):
                    key = name, backend, label, r
                    ratio = seconds * rate / operator_bytes
                    floor_ratio[key] = min(floor_ratio.get(key, float("inf")), ratio)
        for (backend, label), step in batched.items():
            for K in BATCHES:
                keys = paired("GEMM")
                seconds = timer.time(("batch", backend, label, K), lambda: step(UK[K]),
                                     threads(backend))
                gemm_now = max(2 * 2048**3 / timer.last[k] for k in keys)
                key = backend, label, K
                share = 4 * m * p * K / seconds / gemm_now
                gemm_share[key] = max(gemm_share.get(key, 0.0), share)
    best = timer.best

    bandwidths = {k: (1 << 30) / best[k] for k in limits if "sum" in k}
    gemms = {k: 2 * 2048**3 / best[k] for k in limits if "GEMM" in k}
    bandwidth, gemm = max(bandwidths.values()), max(gemms.values())
    floor = operator_bytes / bandwidth
    print(f"device: {describe_device(device)}; best of {args.rounds} interleaved rounds")
    print("read bandwidth: " + ", ".join(f"{k} {v / 1e9:.1f} GB/s" for k, v in bandwidths.items())
          + f" -> {bandwidth / 1e9:.1f} GB/s")
    print("float32 GEMM 2048^3: " + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in
                                             gemms.items()) + f" -> {gemm / 1e9:.0f} GFLOP/s")
    print(f"n = {n}, m = {m}: packed operator {operator_bytes / 1e9:.2f} GB float32, "
          f"floor (one read) {1e3 * floor:.1f} ms")
    print("each cell below is compared with the limits timed just before it, in its round")

    print("\none GD step, ratio to the floor (lower is better; target <= 1.5):")
    print(f"{'engine':>7} {'block':>6} " + " ".join(f"{f'r = {r}':>9}" for r in WIDTHS))
    for backend, label in steps:
        print(f"{backend:>7} {label:>6} " + " ".join(
            f"{floor_ratio['max', backend, label, r]:9.2f}" for r in WIDTHS))
    engine = "numpy" if base.streams_with_numpy() else "torch"
    label = "all" if base.block_rows >= m else "4 MB"  # symmetric_operator's defaults
    print(f"the library's default here: {engine}, {label}")
    if cpu:  # the floor of torch's sum alone, the course's usual bandwidth measure
        print("  against the floor of torch's sum alone: " + ", ".join(
            f"r = {r}: {floor_ratio['torch', engine, label, r]:.2f}x" for r in WIDTHS))

    if not args.skip_dense:
        A = base.dense()  # the (m, n, n) tensor, 1.6 GB in float32 at the talk's scale
        dense = dense_loss_and_grad(A, y)
        dense_timer = Rounds(device)
        for _ in range(args.rounds):
            dense_timer.time("dense", lambda: dense(U[5]))
        seconds = dense_timer.best["dense"]
        print(f"\nnaive einsum over the (m, n, n) tensor, r = 5: {1e3 * seconds:.0f} ms = "
              f"{seconds / floor:.2f}x the floor")
        del A, dense

    print(f"\nbatched sweep of K runs (r = {args.rank}), as a fraction of the GEMM rate "
          "(target >= 60% at K = 32); numpy's blocks grow with K (see beyondlazy.operators):")
    for backend, label in batched:
        cells = []
        for K in BATCHES:
            seconds = best["batch", backend, label, K]
            share = gemm_share[backend, label, K]
            cells.append(f"K = {K}: {1e3 * seconds / K:6.1f} ms/run {100 * share:5.1f}%")
        print(f"{backend:>7} {label:>6}  " + "  ".join(cells))


if __name__ == "__main__":
    main()
