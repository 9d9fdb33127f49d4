"""One full-batch training step of the two-layer ReLU network of Chapter 4, against the GEMM rate.

A step is the forward pass and the gradient of both layers of f(x) = aᵀσ(Wx + b) on n samples.
Its flops are counted as

    2·n·m·d  (the forward product Wx)  +  2·n·m·d  (∇_W L = (2/n) Rᵀ X)  =  4·n·m·d,

ignoring the bias column, the elementwise passes and the O(n·m) products for ∇_a and ∇_b. The
script reports flops/second of a step as a fraction of the square float32 GEMM rate (2048³)
measured in the same run, on the same device, for

* autograd on the plain tensor expression (``beyondlazy.relu_net.loss`` + ``torch.autograd.grad``);
* the library's hand-written, chunked gradient (``beyondlazy.relu_net.make_loss_and_grad``), for
  several chunk sizes, with torch's own threads (``workers=1``) and split over two Python
  threads (``workers=2``, CPU only).

The GEMM and every variant are timed in interleaved rounds (best of ``--rounds``), so that load
from other processes on a shared machine hits them alike.

    .venv/bin/python benchmarks/bench_two_layer_step.py [--device cuda] [--n 20000 --d 32 --m 1024]
"""

from __future__ import annotations

import argparse

import torch

from beyondlazy import describe_device, rng
from beyondlazy.relu_net import ReLUNet, loss, make_loss_and_grad, symmetric_init
from timing import time_call  # benchmarks/timing.py


def interleaved_best(fns: dict, device, rounds: int) -> dict:
    """Best time of each function over ``rounds`` rounds, each round calling all of them once."""
    for fn in fns.values():  # warm-up
        fn()
    best = {name: float("inf") for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            best[name] = min(best[name], time_call(fn, device))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--m", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    device = torch.device(args.device)
    n, d, m = args.n, args.d, args.m
    dtype = torch.float32

    gen = rng.generator(0)
    X = rng.randn((n, d), gen, dtype=dtype, device=device)
    y = rng.randn((n,), gen, dtype=dtype, device=device)
    params = symmetric_init(d, m, seed=1, bias_std=1.0, dtype=dtype, device=device)
    params = ReLUNet(params.W, params.b, params.a + 0.1)  # f ≠ 0: a generic point
    A = torch.randn(2048, 2048, device=device)
    B = torch.randn(2048, 2048, device=device)

    def autograd_step():
        leaves = [p.detach().requires_grad_(True) for p in params]
        value = loss(ReLUNet(*leaves), X, y)
        torch.autograd.grad(value, leaves)

    fns = {"gemm": lambda: A @ B, "autograd": autograd_step}
    chunks = (256, 512, 1024) if device.type == "cpu" else (n,)
    for chunk in chunks:
        fns[f"hand-written, chunk {chunk}"] = (
            lambda f=make_loss_and_grad(X, y, chunk=chunk): f(*params))
        if device.type == "cpu":
            fns[f"hand-written, chunk {chunk}, 2 workers"] = (
                lambda f=make_loss_and_grad(X, y, chunk=chunk, workers=2): f(*params))
    fns["hand-written, default chunk"] = lambda f=make_loss_and_grad(X, y): f(*params)

    times = interleaved_best(fns, device, args.rounds)
    gemm = 2 * 2048**3 / times.pop("gemm")
    flops = 4 * n * m * d
    print(f"device: {describe_device(device)}; torch threads: {torch.get_num_threads()}")
    print(f"float32 GEMM 2048^3: {gemm / 1e9:.1f} GFLOP/s (best of {args.rounds} interleaved rounds)")
    print(f"step: n = {n}, d = {d}, m = {m}, float32; flops counted 4·n·m·d = {flops / 1e9:.2f} GFLOP")
    print(f"{'variant':>36} {'ms':>8} {'GFLOP/s':>9} {'of GEMM':>8}")
    for name, seconds in times.items():
        rate = flops / seconds
        print(f"{name:>36} {1e3 * seconds:8.1f} {rate / 1e9:9.1f} {rate / gemm:8.1%}")


if __name__ == "__main__":
    main()
