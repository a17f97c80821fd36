"""benchmarks/bench_afsft.py: the comparison's runs, how an evaluation's success and valid-syntax rate are read,
the intervals, the report, and bad arguments (no run is launched here; the script's smoke run is in its report)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from coso.stats import wilson_interval

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))  # benchmarks/ is no package: its modules import by name
import ablation_grid as grid  # noqa: E402
import bench_afsft as bench  # noqa: E402


def test_every_seed_runs_the_three_methods_after_the_shared_base_with_the_same_rules(tmp_path) -> None:
    specs = bench.build_specs(tmp_path, [0, 1], ["scale=smoke", "train.offline_noise=0.3"])
    assert specs[0].method == grid.BASE and specs[0].exclusive
    assert [(s.method.label, s.seed) for s in specs[1:]] == [
        ("SFT", 0), ("Filtered BC", 0), ("AFSFT", 0), ("SFT", 1), ("Filtered BC", 1), ("AFSFT", 1)]
    assert all(s.depends_on == (grid.BASE.label, 0) for s in specs[1:])
    for spec in specs:  # the same episode rules and decoding for all, and the user's noise replaces the default
        assert {"agent.constrained_decoding=false", "env.invalid_timeout_after=3"} <= set(spec.hydra_args)
        assert "train.offline_noise=0.3" in spec.hydra_args and "train.offline_noise=0.5" not in spec.hydra_args
    sft, filtered, afsft = specs[1:4]
    assert sft.method.config_name == afsft.method.config_name == "afsft_off2on"
    assert "algorithm.afsft.td_coeff=0" in sft.hydra_args and "algorithm.afsft.td_coeff=0" not in afsft.hydra_args
    assert filtered.method.config_name == "filteredbc_off2on"
    warmup = "algorithm.afsft.beta_warmup_steps=50"
    own = bench.build_specs(tmp_path, [0], [], afsft_overrides=[warmup])
    assert [spec.method.label for spec in own if warmup in spec.hydra_args] == ["AFSFT"]


def metrics_line(phase: str, successes: int, episodes: int, steps: int, invalid: int) -> str:
    return json.dumps({"phase": phase, "eval_successes": float(successes), "eval_episodes": float(episodes),
                       "eval_env_steps": float(steps), "eval_invalid_actions": float(invalid)})


def test_an_evaluation_is_read_from_the_last_metrics_line_of_its_phase(tmp_path) -> None:
    lines = [metrics_line("eval_offline", 1, 4, 10, 10), metrics_line("online", 0, 0, 0, 0),
             metrics_line("eval_offline", 2, 4, 20, 5), metrics_line("eval_final", 3, 4, 16, 4)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    offline = bench.read_stage(tmp_path, "offline")
    assert (offline.successes, offline.episodes, offline.valid_steps, offline.steps) == (2, 4, 15, 20)
    assert offline.valid_rate == 0.75 and bench.read_stage(tmp_path, "final").success_rate == 0.75
    assert bench.read_stage(tmp_path, "sft") is None and bench.read_stage(tmp_path / "none", "final") is None


def test_success_is_summarised_with_a_t_interval_over_seeds_and_a_pooled_wilson_interval() -> None:
    results = [bench.StageResult(2, 4, 8, 10), bench.StageResult(3, 4, 10, 10), bench.StageResult(1, 4, 6, 10)]
    row = bench.summarise(results)
    assert row["success_mean"] == pytest.approx(0.5) and row["episodes"] == 12
    half = 4.303 * 0.25 / 3 ** 0.5  # sample std of 0.5, 0.75, 0.25 is 0.25; t(2) = 4.303
    assert row["success_t95"] == pytest.approx([max(0.0, 0.5 - half), min(1.0, 0.5 + half)])
    assert row["success_wilson95"] == pytest.approx(list(wilson_interval(6, 12)))
    assert row["valid_mean"] == pytest.approx(0.8) and row["valid_pooled"] == pytest.approx(0.8)
    assert bench.mean_interval([0.4]) == (0.4, 0.4, 0.4)


def test_the_report_holds_both_stages_and_every_run(tmp_path) -> None:
    specs = bench.build_specs(tmp_path, [0], [])
    outcome = grid.GridOutcome(finished=[s.key for s in specs])
    for spec in specs[1:]:
        spec.save_path.mkdir(parents=True)
        (spec.save_path / "metrics.jsonl").write_text(
            metrics_line("eval_offline", 1, 4, 12, 6) + "\n" + metrics_line("eval_final", 2, 4, 12, 0) + "\n")
    document = bench.write_report(tmp_path / "report.md", [0], ["--seeds", "0"], specs, outcome)
    text = (tmp_path / "report.md").read_text()
    assert "## After the offline phase" in text and "| AFSFT | 0 | 1/4 | 6/12 steps | 2/4 | 12/12 steps |" in text
    assert document["table"]["SFT"]["final"]["valid_mean"] == 1.0
    assert json.loads((tmp_path / "report.json").read_text())["per_run"]["AFSFT"]["0"]["offline"]["steps"] == 12


@pytest.mark.parametrize("argv, words", [(["--jobs", "0"], "--jobs"),
                                         (["--afsft-override", "nokey"], "--override takes key=value"), (["--override", "seed=3"], "set by the grid"),
                                         (["--override", "nothing"], "key=value"), (["--report", "x.txt"], ".md"),
                                         (["--seeds", "1", "1"], "--seeds")])
def test_bad_arguments_are_one_line_and_exit_code_2(argv, words, capsys) -> None:
    assert bench.main(argv) == 2
    assert words in capsys.readouterr().err
