"""One gradient step of symmetric matrix sensing against this machine's limits (Chapter 3).

The physical floor of a step is one read of the smallest exact representation of the operator,
the symmetrized upper triangle: m·n(n+1)/2 numbers, at the read bandwidth measured here. This
script measures, in one run on one device:

* the read bandwidth (a reduction over 1 GiB) and the square float32 GEMM rate (2048³);
* one GD step at the talk's scale (n = 200, r* = 5, m = 10⁴, float32) for r ∈ {5, 50, 200}, as
  a ratio to the floor, for several streaming block sizes (``all`` = two full GEMMs/GEMVs);
* the naive baseline: einsum over the dense (m, n, n) tensor (beyondlazy.sensing);
* a batch of K = 1, 8, 32 runs in one step, as a fraction of the GEMM rate (4·m·p·K flops).

    .venv/bin/python benchmarks/bench_sensing.py [--device cuda] [--m 10000 --n 200]
"""

from __future__ import annotations

import argparse

import torch

from beyondlazy import describe_device, rng
from beyondlazy.factorized import symmetric_loss_and_grad
from beyondlazy.operators import SymmetricOperator, symmetric_operator
from beyondlazy.sensing import symmetric_loss_and_grad as dense_loss_and_grad
from timing import best_of  # benchmarks/timing.py


def read_bandwidth(device) -> float:
    x = torch.ones(1 << 28, dtype=torch.float32, device=device)  # 1 GiB
    seconds = best_of(lambda: x.sum(), device)
    return x.numel() * 4 / seconds


def gemm_rate(device) -> float:
    a = torch.randn(2048, 2048, device=device)
    b = torch.randn(2048, 2048, device=device)
    seconds = best_of(lambda: a @ b, device)
    return 2 * 2048**3 / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--rank", type=int, default=5)
    parser.add_argument("--m", type=int, default=10_000)
    parser.add_argument("--skip-dense", action="store_true", help="skip the einsum baseline")
    args = parser.parse_args()
    device = torch.device(args.device)
    n, m = args.n, args.m
    p = n * (n + 1) // 2

    bandwidth, gemm = read_bandwidth(device), gemm_rate(device)
    floor = m * p * 4 / bandwidth
    print(f"device: {describe_device(device)}")
    print(f"read bandwidth {bandwidth / 1e9:.1f} GB/s; "
          f"float32 GEMM 2048^3 {gemm / 1e9:.0f} GFLOP/s")
    print(f"n = {n}, m = {m}: packed operator {m * p * 4 / 1e9:.2f} GB float32, "
          f"floor (one read) {1e3 * floor:.1f} ms")

    base = symmetric_operator(n, m, rng.generator(0), dtype=torch.float32, device=device)
    X = torch.linalg.qr(rng.randn((n, args.rank), rng.generator(1), dtype=torch.float64))[0]
    X = X.to(dtype=torch.float32, device=device)
    y = base.measure(X @ X.T)
    blocks = {"1 MB": 1 << 20, "4 MB": 4 << 20, "16 MB": 16 << 20, "all": None}
    row_bytes = p * 4
    best = {}
    print("\none GD step, ratio to the floor (lower is better; target <= 1.5):")
    print(f"{'block':>8} " + " ".join(f"{f'r = {r}':>10}" for r in (5, 50, 200)))
    for label, size in blocks.items():
        rows = m if size is None else max(8, size // row_bytes)
        op = SymmetricOperator(base.M, rows, n)
        loss_and_grad = symmetric_loss_and_grad(op, y)
        ratios = []
        for r in (5, 50, 200):
            U = 1e-3 * rng.randn((n, r), rng.generator(2), dtype=torch.float32, device=device)
            seconds = best_of(lambda: loss_and_grad(U), device)
            ratios.append(seconds / floor)
            best[r] = min(best.get(r, float("inf")), seconds / floor)
        print(f"{label:>8} " + " ".join(f"{x:10.2f}" for x in ratios))
    print("best per r: " + ", ".join(f"r = {r}: {v:.2f}x" for r, v in best.items()))

    if not args.skip_dense:
        A = base.dense()  # the (m, n, n) tensor, 1.6 GB in float32 at the talk's scale
        dense = dense_loss_and_grad(A, y)
        U = 1e-3 * rng.randn((n, 5), rng.generator(2), dtype=torch.float32, device=device)
        seconds = best_of(lambda: dense(U), device, repeats=3)
        print(f"\nnaive einsum over the (m, n, n) tensor, r = 5: {1e3 * seconds:.0f} ms = "
              f"{seconds / floor:.2f}x the floor")
        del A, dense

    print("\nbatched sweep of K runs (r = 5), as a fraction of the GEMM rate "
          "(target >= 60% at K = 32):")
    for label, size in blocks.items():
        rows = m if size is None else max(8, size // row_bytes)
        op = SymmetricOperator(base.M, rows, n)
        loss_and_grad = symmetric_loss_and_grad(op, y)
        cells = []
        for K in (1, 8, 32):
            U = 1e-3 * rng.randn((K, n, 5), rng.generator(3), dtype=torch.float32, device=device)
            seconds = best_of(lambda: loss_and_grad(U), device)
            rate = 4 * m * p * K / seconds
            cells.append(f"K = {K}: {1e3 * seconds / K:6.1f} ms/run {100 * rate / gemm:5.1f}%")
        print(f"{label:>8}  " + "  ".join(cells))


if __name__ == "__main__":
    main()
