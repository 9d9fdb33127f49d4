"""How much the shared gradient-descent loop costs on top of the gradient steps it runs.

The loop watches every run for divergence at every step (on the device, without a sync), masks
diverged runs out of the update, and records metrics every `record_every` steps. This benchmark
times, on the same problem and the same device, a bare loop that only applies
U <- U - mu * grad(U) against `gradient_descent`, and prints the ratio (1.00 = no overhead).

    .venv/bin/python benchmarks/bench_gd_loop.py [--device cuda] [--n 80 --m 1600 --batch 8]
"""

from __future__ import annotations

import argparse

import torch

from beyondlazy import describe_device, gradient_descent, rng
from beyondlazy.sensing import sensing_problem, symmetric_loss_and_grad
from timing import best_of  # benchmarks/timing.py


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--m", type=int, default=400)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args()
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)

    problem = sensing_problem(args.n, 2, args.m, seed=0, dtype=dtype, device=device)
    U0 = 1e-3 * rng.randn((args.batch, args.n, args.n), rng.generator(1), dtype=dtype, device=device)
    loss_and_grad = symmetric_loss_and_grad(problem.A, problem.y)
    mu = 0.25

    def bare():
        U = U0.clone()
        for _ in range(args.steps):
            _, (g,) = loss_and_grad(U)
            U = U - mu * g
        return U

    def shared(record_every):
        return lambda: gradient_descent(loss_and_grad, U0, step_size=mu, n_steps=args.steps,
                                        record_every=record_every, batched=True)

    bare()  # warm-up
    t_bare = best_of(bare, device)
    print(f"device: {describe_device(device)}; n = {args.n}, m = {args.m}, K = {args.batch}, "
          f"{args.steps} steps, {args.dtype}")
    print(f"bare loop:                    {1e3 * t_bare / args.steps:8.3f} ms/step")
    for k in (1, 10, 100):
        t = best_of(shared(k), device)
        print(f"gradient_descent, record/{k:<3d}: {1e3 * t / args.steps:8.3f} ms/step  "
              f"ratio to bare loop {t / t_bare:5.2f}")


if __name__ == "__main__":
    main()
