"""Seeded randomness, the device helpers, and the problem-size switch."""

from __future__ import annotations

import matplotlib
import pytest
import torch

import beyondlazy
from beyondlazy import available_devices, by_scale, current_scale, default_device, device_for, rng
from beyondlazy.scale import ENV_VAR
from beyondlazy.sensing import gaussian_init, sensing_problem, train_symmetric

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

DRAWS = {
    "randn": lambda gen, **kw: rng.randn((4, 3), gen, **kw),
    "rand": lambda gen, **kw: rng.rand((4, 3), gen, **kw),
    "randperm": lambda gen, **kw: rng.randperm(12, gen, device=kw.get("device")),
}


# ---------------------------------------------------------------------------------------------
# Seeds
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DRAWS)
def test_same_seed_gives_identical_draws(name):
    draw = DRAWS[name]
    first, second = rng.generator(7), rng.generator(7)
    for _ in range(3):  # the whole sequence, not only the first draw
        assert torch.equal(draw(first), draw(second))


@pytest.mark.parametrize("name", DRAWS)
def test_different_seeds_give_different_draws(name):
    draw = DRAWS[name]
    assert not torch.equal(draw(rng.generator(0)), draw(rng.generator(1)))


def test_successive_draws_from_one_generator_differ():
    gen = rng.generator(0)
    assert not torch.equal(rng.randn((5,), gen), rng.randn((5,), gen))


@pytest.mark.parametrize("name", ["randn", "rand"])
def test_float32_draw_is_the_float64_draw_rounded(name):
    draw = DRAWS[name]
    as64 = draw(rng.generator(3), dtype=torch.float64)
    as32 = draw(rng.generator(3), dtype=torch.float32)
    assert as64.dtype == torch.float64 and as32.dtype == torch.float32
    assert torch.equal(as32, as64.to(torch.float32))


def test_draws_default_to_the_default_dtype_and_the_cpu():
    draw = rng.randn((3,), rng.generator(0))
    assert draw.dtype == torch.get_default_dtype()
    assert draw.device == torch.device("cpu")


def test_rand_is_in_the_unit_interval():
    u = rng.rand((1000,), rng.generator(0), dtype=torch.float64)
    assert bool(((u >= 0) & (u < 1)).all())


def test_randperm_is_a_permutation():
    perm = rng.randperm(20, rng.generator(0))
    assert sorted(perm.tolist()) == list(range(20))


@pytest.mark.gpu
@requires_cuda
@pytest.mark.parametrize("name", DRAWS)
def test_draws_are_identical_on_cpu_and_cuda(name):
    draw = DRAWS[name]
    on_cpu = draw(rng.generator(5))
    on_cuda = draw(rng.generator(5), device="cuda")
    assert on_cuda.device.type == "cuda"
    assert torch.equal(on_cuda.cpu(), on_cpu)


@pytest.mark.gpu
@requires_cuda
def test_sensing_problem_and_init_are_identical_on_cpu_and_cuda():
    on_cpu = sensing_problem(5, 2, 12, seed=4)
    on_cuda = sensing_problem(5, 2, 12, seed=4, device="cuda")
    assert torch.equal(on_cuda.A.cpu(), on_cpu.A)
    assert torch.equal(on_cuda.X.cpu(), on_cpu.X)
    init_cpu = gaussian_init([1e-3, 0.1], 5, 4, seed=4)
    init_cuda = gaussian_init([1e-3, 0.1], 5, 4, seed=4, device="cuda")
    assert init_cuda.device.type == "cuda" and torch.equal(init_cuda.cpu(), init_cpu)


def test_draws_do_not_depend_on_the_global_seed():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        first = rng.randn((6,), rng.generator(2))
        torch.manual_seed(99)
        second = rng.randn((6,), rng.generator(2))
    assert torch.equal(first, second)


def _uses_of_randomness():
    def sensing_run():
        problem = sensing_problem(5, 1, 15, seed=0)
        U0 = 1e-3 * rng.randn((5, 2), rng.generator(1), dtype=torch.float64)
        return train_symmetric(problem, U0, n_steps=5, record_every=1)

    return {
        "generator": lambda: rng.generator(11),
        "randn": lambda: rng.randn((3, 3), rng.generator(1)),
        "rand": lambda: rng.rand((3, 3), rng.generator(1)),
        "randperm": lambda: rng.randperm(9, rng.generator(1)),
        "sensing_problem": lambda: sensing_problem(6, 2, 20, seed=3),
        "gaussian_init": lambda: gaussian_init([1e-3, 1.0], 4, 3, seed=2),
        "train_symmetric": sensing_run,
    }


@pytest.mark.parametrize("name", list(_uses_of_randomness()))
def test_library_leaves_the_global_rng_untouched(name):
    fn = _uses_of_randomness()[name]
    before = torch.random.get_rng_state()
    cuda_before = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    fn()
    assert torch.equal(torch.random.get_rng_state(), before)
    if cuda_before is not None:
        after = torch.cuda.get_rng_state_all()
        assert all(torch.equal(a, b) for a, b in zip(after, cuda_before))


# ---------------------------------------------------------------------------------------------
# Devices
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cuda, mps, expected",
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_default_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert default_device() == torch.device(expected)


@pytest.mark.parametrize("cuda, mps", [(True, True), (False, True), (True, False), (False, False)])
def test_available_devices_lists_the_cpu_first_and_each_available_accelerator(monkeypatch, cuda, mps):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    devices = available_devices()
    assert devices[0] == torch.device("cpu")
    assert {d.type for d in devices} == {"cpu"} | ({"cuda"} if cuda else set()) | ({"mps"} if mps else set())
    assert len(devices) == len({d.type for d in devices})
    assert default_device() in devices


@pytest.mark.parametrize(
    "cuda, mps, dtype, expected",
    [(False, True, torch.float64, "cpu"), (False, True, torch.float32, "mps"),
     (True, False, torch.float64, "cuda"), (True, True, torch.float64, "cuda"),
     (False, False, torch.float64, "cpu"), (False, False, torch.float32, "cpu")],
)
def test_device_for_keeps_float64_off_mps(monkeypatch, cuda, mps, dtype, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert device_for(dtype) == torch.device(expected)


def test_available_devices_match_this_machine():
    types = [d.type for d in available_devices()]
    assert ("cuda" in types) == torch.cuda.is_available()
    assert ("mps" in types) == torch.backends.mps.is_available()


def test_notebook_setup_reports_the_device_and_scale(monkeypatch, capsys):
    monkeypatch.setenv(ENV_VAR, "paper")
    with matplotlib.rc_context():
        setup = beyondlazy.notebook_setup()
    assert setup.device == default_device()
    assert setup.scale == "paper"
    line = capsys.readouterr().out
    assert f"torch {torch.__version__}" in line and "scale: paper" in line


# ---------------------------------------------------------------------------------------------
# Scale
# ---------------------------------------------------------------------------------------------


def test_current_scale_defaults_to_default_when_the_variable_is_unset(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert current_scale() == "default"


@pytest.mark.parametrize("value", ["default", "paper"])
def test_current_scale_reads_the_environment_variable(monkeypatch, value):
    monkeypatch.setenv("BEYONDLAZY_SCALE", value)
    assert current_scale() == value


@pytest.mark.parametrize("value", ["huge", "papers", "1"])
def test_current_scale_rejects_other_values_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("BEYONDLAZY_SCALE", value)
    with pytest.raises(ValueError) as err:
        current_scale()
    message = str(err.value)
    assert "BEYONDLAZY_SCALE" in message and repr(value) in message
    assert "'default'" in message and "'paper'" in message


@pytest.mark.parametrize("env", ["paper", "default", "huge"])
def test_explicit_scale_wins_over_the_environment(monkeypatch, env):
    monkeypatch.setenv(ENV_VAR, env)
    assert current_scale("default") == "default"
    assert current_scale("paper") == "paper"


def test_explicit_scale_must_be_known(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(ValueError) as err:
        current_scale("huge")
    assert "scale" in str(err.value) and "'huge'" in str(err.value) and "'paper'" in str(err.value)


def test_by_scale_picks_the_entry_of_the_scale_in_use(monkeypatch):
    choices = {"default": 50, "paper": 200}
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert by_scale(choices) == 50
    assert by_scale(choices, scale="paper") == 200
    monkeypatch.setenv(ENV_VAR, "paper")
    assert by_scale(choices) == 200
    assert by_scale(choices, scale="default") == 50


@pytest.mark.parametrize("choices", [{"default": 1}, {"paper": 2}, {}, {"default": 1, "big": 2}])
def test_by_scale_rejects_a_mapping_without_every_scale(choices):
    with pytest.raises(ValueError) as err:
        by_scale(choices, scale="default")
    message = str(err.value)
    assert "choices" in message and str(sorted(choices)) in message and "'paper'" in message


@pytest.mark.parametrize("cpu_max, cfs_quota, cfs_period, expected", [
    ("max 100000", None, None, None),  # cgroup v2, no quota
    ("150000 100000", None, None, 2),  # 1.5 CPUs: round up
    ("50000 100000", None, None, 1),
    (None, "-1", "100000", None),  # cgroup v1, no quota
    (None, "400000", "100000", 4),
    ("not a quota", None, None, None),
])
def test_container_cpu_quota_is_read_from_cgroup_files(cpu_max, cfs_quota, cfs_period, expected):
    from beyondlazy.device import _quota_cpus

    assert _quota_cpus(cpu_max, cfs_quota, cfs_period) == expected


def test_cpu_budget_never_exceeds_the_cpus_the_process_may_run_on():
    import os

    from beyondlazy.device import cpu_budget

    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count())
    assert 1 <= cpu_budget() <= len(usable)


def test_notebook_setup_caps_torch_threads_at_the_cpu_budget(monkeypatch, capsys):
    import beyondlazy.notebook as notebook

    before = torch.get_num_threads()
    monkeypatch.setattr(notebook, "cpu_budget", lambda: 1)
    try:
        torch.set_num_threads(2)
        notebook.notebook_setup()
        assert torch.get_num_threads() == 1
        assert "cpu (1 thread" in capsys.readouterr().out or default_device().type != "cpu"
    finally:
        torch.set_num_threads(before)
