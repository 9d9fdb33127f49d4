"""What training the linearization costs on top of the network, in Chapter 1's lazy runs.

`train_lazy` trains a network and its linearization side by side. The linearization's step
needs J_0 δ and J_0ᵀ r: either from the K training Jacobians formed once (two matrix products
a step, `dense_jacobian=True`, the default when K·n·p <= 2²⁴) or from one forward-mode `jvp`
and one reverse-mode `vjp` a step (`dense_jacobian=False`, J_0 never formed). This benchmark
times the same run three ways, on the same machine in the same process: the network alone
(`linearization=False`, the limit), and with its linearization each way, and prints the cost of
the linearization as a ratio to the network's own steps (0 = free).

    .venv/bin/python benchmarks/bench_lazy.py [--device cuda] [--size default|paper]
"""

from __future__ import annotations

import argparse

import torch

from beyondlazy.claims.chapter1 import SCALE, scale_model
from beyondlazy.lazy import kernel_step_size, train_lazy
from beyondlazy.scale import by_scale
from timing import best_of  # benchmarks/timing.py


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", default="default", choices=["default", "paper"])
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    device = torch.device(args.device)
    cfg = by_scale(SCALE, args.size)
    model, theta0, task = scale_model(0, args.size, device=device)
    alphas = torch.tensor(cfg.alphas, dtype=torch.float64, device=device)
    eta = kernel_step_size(model, theta0, task.X)

    def run(**kwargs):
        return lambda: train_lazy(model, theta0, task.X, task.y, X_test=task.X_test,
                                  y_test=task.y_test, alpha=alphas, step_size=eta,
                                  n_steps=args.steps, record_every=args.steps,
                                  kernel_change=False, **kwargs)

    K, n, p = len(cfg.alphas), cfg.n, theta0.numel()
    print(f"C1.3's {args.size} run: K = {K} scales, n = {n}, p = {p} (K·n·p = {K * n * p:,}), "
          f"{args.steps} steps, {device}, {torch.get_num_threads()} thread(s)")
    network = best_of(run(linearization=False), device, repeats=3) / args.steps
    print(f"  {'network alone (the limit)':<58} {1e3 * network:7.2f} ms a step")
    for label, dense in (("dense J_0 (two products)", True), ("jvp + vjp (J_0 never formed)", False)):
        both = best_of(run(dense_jacobian=dense), device, repeats=3) / args.steps
        print(f"  {'with the linearization, ' + label:<58} {1e3 * both:7.2f} ms a step: "
              f"the linearization costs {(both - network) / network:.2f}x the network's step")


if __name__ == "__main__":
    main()
