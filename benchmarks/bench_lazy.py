"""What training the linearization costs on top of the network, in Chapter 1's lazy runs.

`train_lazy` trains a network and its linearization side by side; the linearization runs in
function space (θ^lin = θ_0 + J_0ᵀ b, a step is an n × n kernel product). This benchmark times
the same run twice, on the same machine in the same process: the network alone
(`linearization=False`, the limit) and with its linearization, and prints the cost of the
linearization as a ratio to the network's own steps (0 = free). The kernels are formed once,
before the first step, and counted in.

    .venv/bin/python benchmarks/bench_lazy.py [--device cuda] [--size default|paper]
"""

from __future__ import annotations

import argparse

import torch

from beyondlazy.claims.chapter1 import SCALE, scale_model
from beyondlazy.lazy import kernel_step_size, train_lazy
from beyondlazy.scale import by_scale
from timing import time_call  # benchmarks/timing.py


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", default="default", choices=["default", "paper"])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    device = torch.device(args.device)
    cfg = by_scale(SCALE, args.size)
    model, theta0, task = scale_model(0, args.size, device=device)
    alphas = torch.tensor(cfg.alphas, dtype=torch.float64, device=device)
    eta = kernel_step_size(model, theta0, task.X)

    def run(n_steps: int, linearization: bool):
        return lambda: train_lazy(model, theta0, task.X, task.y, X_test=task.X_test,
                                  y_test=task.y_test, alpha=alphas, step_size=eta,
                                  n_steps=n_steps, record_every=n_steps,
                                  linearization=linearization, kernel_change=False)

    # Runs of 1 and 1 + steps steps (each recorded at both ends): their difference is the steps
    # alone, the rest the set-up. The four are interleaved over rounds and the best of each
    # kept, since this machine's speed drifts between seconds.
    cases = [(n_steps, lin) for lin in (False, True) for n_steps in (1, 1 + args.steps)]
    for n_steps, lin in cases:
        run(n_steps, lin)()  # warm-up
    best = {case: float("inf") for case in cases}
    for _ in range(args.rounds):
        for case in cases:
            best[case] = min(best[case], time_call(run(*case), device))

    def split(lin: bool) -> tuple[float, float]:
        step = (best[(1 + args.steps, lin)] - best[(1, lin)]) / args.steps
        return best[(1, lin)] - step, step

    K, n, p = len(cfg.alphas), cfg.n, theta0.numel()
    print(f"C1.3's {args.size} run: K = {K} scales, n = {n}, n_test = {task.X_test.shape[0]}, "
          f"p = {p}, {args.steps} steps, {device}, {torch.get_num_threads()} thread(s), "
          f"best of {args.rounds} interleaved rounds")
    setup_net, network = split(False)
    print(f"  {'network alone (the limit)':<40} {1e3 * network:8.2f} ms a step "
          f"(set-up {setup_net:.2f} s)")
    setup_both, both = split(True)
    print(f"  {'with the linearization (kernel form)':<40} {1e3 * both:8.2f} ms a step "
          f"(set-up {setup_both:.2f} s, the kernels included): the linearization costs "
          f"{(both - network) / network:.2f}x the network's step")

if __name__ == "__main__":
    main()
