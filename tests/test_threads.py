"""OpenMP defaults for a shared machine (coso/threads.py) and the thread benchmark's verdict logic."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from coso.threads import OPT_OUT_VARIABLE, apply_thread_defaults, default_thread_env, set_torch_threads

REPO = Path(__file__).resolve().parent.parent


def _bench_threads():
    spec = importlib.util.spec_from_file_location("bench_threads", REPO / "benchmarks" / "bench_threads.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_defaults_fill_only_what_the_environment_lacks() -> None:
    environ: dict[str, str] = {}
    applied = apply_thread_defaults(environ, loaded_modules=())
    assert applied == default_thread_env() and environ == default_thread_env()
    mine = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert apply_thread_defaults(mine, loaded_modules=()) == {} and mine == {"OMP_WAIT_POLICY": "ACTIVE"}


def test_a_users_spin_count_or_the_opt_out_leaves_the_environment_alone() -> None:
    spinning = {"GOMP_SPINCOUNT": "5"}
    assert apply_thread_defaults(spinning, loaded_modules=()) == {} and spinning == {"GOMP_SPINCOUNT": "5"}
    opted_out = {OPT_OUT_VARIABLE: "off"}
    assert apply_thread_defaults(opted_out, loaded_modules=()) == {} and opted_out == {OPT_OUT_VARIABLE: "off"}


def test_nothing_is_set_once_torch_is_loaded() -> None:
    environ: dict[str, str] = {}
    assert apply_thread_defaults(environ, loaded_modules={"torch"}) == {} and environ == {}


def test_the_entry_point_sets_the_defaults_before_torch_loads() -> None:
    env = {key: value for key, value in os.environ.items() if key not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY",
                                                                          OPT_OUT_VARIABLE)}
    code = ("import runpy, sys; sys.argv = ['run.py', '--help']\n"
            "from coso.threads import apply_thread_defaults; print(apply_thread_defaults())\n"
            "import os, torch; print(os.environ.get('GOMP_SPINCOUNT'))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.split("\n")[1] == default_thread_env()["GOMP_SPINCOUNT"]
    assert "apply_thread_defaults()" in (REPO / "scripts" / "run.py").read_text().split("from coso.cli")[0]


def test_num_threads_zero_keeps_torchs_default_and_n_sets_it() -> None:
    before = torch.get_num_threads()
    try:
        set_torch_threads(0)
        assert torch.get_num_threads() == before
        set_torch_threads(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_benchmark_verdict_uses_both_bounds() -> None:
    bench = _bench_threads()
    rows = bench.evaluate([
        {"name": "torch default", "threads": 2, "alone_ms": 100.0, "contended_ms": 2000.0},
        {"name": "slow but steady", "threads": 1, "alone_ms": 130.0, "contended_ms": 140.0},
        {"name": "coso default (scripts/run.py)", "threads": 2, "alone_ms": 105.0, "contended_ms": 250.0},
    ])
    verdicts = {row["name"]: row["meets_both"] for row in rows}
    assert verdicts == {"torch default": False, "slow but steady": False, "coso default (scripts/run.py)": True}
    report = bench.render(rows, "python benchmarks/bench_threads.py", 15)
    assert "meets both bounds" in report and "| torch default | 2 | 100 | 2000 | 20.00x | 1.00x | no |" in report


def test_benchmark_candidates_include_torchs_default_and_the_chosen_one() -> None:
    names = [setting.name for setting in _bench_threads().candidate_settings(2)]
    assert names[0] == "torch default" and any(name.startswith("coso default") for name in names)


@pytest.mark.parametrize("value", ["0", "-"])
def test_steps_must_be_positive(value) -> None:
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_threads.py"), "--steps", value],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 2 and "--steps" in out.stderr
