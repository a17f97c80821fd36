"""benchmarks/bench_ablation.py, its grid and report modules: aggregation, bad arguments, one tiny grid end to end."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pytest

from coso.stats import wilson_interval
from tiny_run import TINY as TINY_RUN

REPO_ROOT = Path(__file__).resolve().parent.parent
# the suite's tiny run, with one online iteration and no wandb (~3 s a run)
TINY = [*TINY_RUN, "train.online_iterations=1", "logging.wandb_mode=disabled"]


sys.path.insert(0, str(REPO_ROOT / "benchmarks"))  # benchmarks/ is no package: its modules import by name
import ablation_grid as grid  # noqa: E402
import ablation_report as renderer  # noqa: E402
import bench_ablation as bench  # noqa: E402


def record(method: str, seed: int, final: float | None, offline: float | None = 0.1, **kwargs):
    """A synthetic finished run."""
    success = {"initial": 0.0, "offline": offline, "final": final}
    success = {key: value for key, value in success.items() if value is not None}
    curve = kwargs.pop("curve", [])
    return renderer.RunRecord(method=method, seed=seed, eval_success=success,
                              env_steps=kwargs.get("env_steps", 100), episodes=10,
                              wall_seconds=kwargs.get("wall_seconds", 5.0), curve=curve,
                              eval_counts=kwargs.get("eval_counts", {}))


LABELS = ["DigiRL", "naive entropy", "CoSo"]


def test_mean_std_is_the_sample_std() -> None:
    assert renderer.mean_std([]) == (None, None)
    assert renderer.mean_std([0.5]) == (0.5, None)
    mean, std = renderer.mean_std([0.25, 0.5, 0.75])
    assert mean == pytest.approx(0.5) and std == pytest.approx(0.25)


def test_method_rows_average_over_seeds_and_list_missing_runs() -> None:
    records = [record("DigiRL", 0, 0.25, env_steps=100, wall_seconds=4.0),
               record("DigiRL", 1, 0.75, env_steps=200, wall_seconds=6.0),
               record("CoSo", 0, 0.5), record("CoSo", 2, 0.5),
               record("offline", 0, 0.1, offline=0.1)]
    rows = renderer.method_rows(records, LABELS, [0, 1, 2])
    assert [row.method for row in rows] == LABELS
    digirl, entropy, coso = rows
    assert digirl.seeds == [0, 1] and digirl.final == [0.25, 0.75] and digirl.missing_seeds == [2]
    assert digirl.final_mean == pytest.approx(0.5) and digirl.final_std == pytest.approx(0.3535534, rel=1e-6)
    assert digirl.env_steps_mean == 150 and digirl.wall_seconds_mean == 5.0
    assert digirl.offline_mean == pytest.approx(0.1) and digirl.offline_std == pytest.approx(0.0)
    assert entropy.seeds == [] and entropy.missing_seeds == [0, 1, 2]
    assert entropy.final_mean is None and entropy.final_std is None and entropy.env_steps_mean is None
    assert coso.seeds == [0, 2] and coso.final_std == pytest.approx(0.0)


def test_offline_success_falls_back_to_the_offline_run() -> None:
    rows = renderer.method_rows([record("CoSo", 0, 0.5, offline=None), record("offline", 0, 0.2, offline=0.2)],
                                ["CoSo"], [0])
    assert rows[0].offline_mean == pytest.approx(0.2) and rows[0].offline_std is None


def test_ordering_statement_orders_means_and_compares_with_one_std() -> None:
    records = [record("DigiRL", s, v) for s, v in [(0, 0.1), (1, 0.2), (2, 0.3)]]
    records += [record("naive entropy", s, v) for s, v in [(0, 0.2), (1, 0.25), (2, 0.3)]]
    records += [record("CoSo", s, v) for s, v in [(0, 0.8), (1, 0.85), (2, 0.9)]]
    lines = renderer.ordering_statement(renderer.method_rows(records, LABELS, [0, 1, 2]))
    assert lines[0] == "Ordering of the mean final eval success: CoSo (85.0%) > naive entropy (25.0%) > DigiRL (20.0%)."
    assert any(line.startswith("CoSo − DigiRL: 65.0 points, exceeds one std") for line in lines)
    assert any(line.startswith("naive entropy − DigiRL: 5.0 points, does not exceed one std") for line in lines)


def test_ordering_statement_with_ties_one_seed_and_missing_methods() -> None:
    rows = renderer.method_rows([record("DigiRL", 0, 0.5), record("CoSo", 0, 0.5)], LABELS, [0])
    lines = renderer.ordering_statement(rows)
    assert lines[0] == "Ordering of the mean final eval success: DigiRL (50.0%) = CoSo (50.0%)."
    assert "no std to compare with (fewer than 2 seeds)" in lines[1]
    assert lines[-1] == "No finished runs for: naive entropy."


def test_mean_curve_aligns_by_iteration_index() -> None:
    def curve(points):
        return [renderer.CurvePoint(i, steps, rate) for i, (steps, rate) in enumerate(points)]

    mean = renderer.mean_curve([curve([(10, 0.0), (20, 0.5), (30, 1.0)]), curve([(12, 0.5), (22, 0.5)]), []])
    assert mean.seeds == 2 and mean.env_steps == [11, 21]
    assert mean.mean == pytest.approx([0.25, 0.5]) and mean.std == pytest.approx([0.3535534, 0.0], rel=1e-6)
    assert renderer.mean_curve([]).mean == []


def test_stage_rows_and_markdown() -> None:
    records = [record("DigiRL", 0, 0.25, eval_counts={"final": [1, 4]}),
               record("DigiRL", 1, 0.5, eval_counts={"final": [2, 4]}), record("CoSo", 0, 0.75)]
    stages = renderer.stage_rows(records, "DigiRL", [0, 1, 2])
    assert [row.seed for row in stages] == [0, 1]
    assert stages[0].initial == 0.0 and stages[0].sft is None and stages[0].final == 0.25
    rows = renderer.method_rows(records, LABELS, [0, 1, 2])
    budget = renderer.budget_from_config({"scale_name": "smoke", "train": {"online_iterations": 1}, "env": {}})
    assert budget["scale_name"] == "smoke" and budget["train.online_iterations"] == 1
    assert budget["env.task_set"] is None and list(budget) == list(renderer.BUDGET_KEYS)
    other = renderer.budget_from_config({"env": {"domain": "miniwob", "task_set": "webshop"}})
    assert other["env.domain"] == "miniwob" and "env.task_set" not in other  # the phone's task set is not its budget
    text = renderer.render_markdown(command="python benchmarks/bench_ablation.py", machine=renderer.machine_info(),
                                    budget=budget, budget_source="test", rows=rows, stages=stages,
                                    ordering=renderer.ordering_statement(rows), grid_wall_seconds=12.0,
                                    invocations=1, this_wall_seconds=12.0,
                                    runs_wall_seconds=10.0, executed=3, reused=0,
                                    failures=["CoSo seed 1: exit 1"], plot_name="ablation.png")
    low, high = wilson_interval(3, 8)
    assert (f"| DigiRL | 37.5 ± 17.7 | {100 * low:.1f}–{100 * high:.1f} (8 episodes) | 0: 25.0, 1: 50.0 (missing: 2) "
            "| 10.0 ± 0.0 | +27.5 ± 17.7 |") in text
    assert "| naive entropy | — ± — | — | — (missing: 0, 1, 2) |" in text
    assert "| 0 | 0.0 | — | 10.0 | 25.0 |" in text
    assert "Scaled-down budget" in text and "sample standard deviation" in text and "CoSo seed 1: exit 1" in text


def test_read_record_and_is_finished(tmp_path: Path) -> None:
    run_dir = tmp_path / "coso" / "seed3"
    run_dir.mkdir(parents=True)
    spec = grid.build_specs(tmp_path, [3], [])[3]  # base, offline, DigiRL, CoSo, naive entropy
    assert spec.method.label == "CoSo" and spec.save_path == run_dir and not grid.is_finished(spec)
    summary = {"config_name": "coso_off2on", "seed": 3, "env_steps": 40, "episodes": 8,
               "eval_success_rate": {"initial": 0.0, "offline": 0.25, "final": 0.5},
               "wall_seconds": {"online_rollout": 1.5, "online_update": 2.0, "total_this_process": 9.0}}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    lines = [{"phase": "eval_initial", "eval_success_rate": 0.0},
             {"phase": "online", "env_steps": 20, "success_rate": 0.25},
             {"phase": "online", "env_steps": 40, "success_rate": 0.5}]
    (run_dir / "metrics.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + '\n{"phase": "onl')
    assert grid.is_finished(spec)
    got = renderer.read_record("CoSo", 3, run_dir)
    assert got.eval_success["final"] == 0.5 and got.env_steps == 40 and got.wall_seconds == 3.5
    assert [(p.iteration, p.env_steps, p.success_rate) for p in got.curve] == [(0, 20, 0.25), (1, 40, 0.5)]
    (run_dir / "summary.json").write_text(json.dumps({**summary, "seed": 4}))
    assert not grid.is_finished(spec)


@pytest.mark.parametrize("argv, message", [
    (["--jobs", "0"], "--jobs takes a positive integer, got '0'"),
    (["--seeds", "0", "x1"], "--seeds takes non-negative integers"),
    (["--seeds", "1", "1"], "--seeds has a seed twice"),
    (["--override", "seed=3"], "is set by the grid itself"),
    (["--override", "scale"], "--override takes key=value"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--cores", "0"], "--cores takes a positive integer, got '0'"),
])
def test_bad_arguments_give_one_line(argv, message, capsys) -> None:
    assert bench.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_fresh_refuses_a_directory_the_grid_did_not_write(tmp_path: Path, capsys) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    assert bench.main(["--fresh", "--runs-dir", str(tmp_path), "--report", str(tmp_path / "r.md")]) == 2
    assert "refuses to delete" in capsys.readouterr().err and (tmp_path / "notes.txt").exists()


def test_tiny_grid_end_to_end_then_a_rerun_reuses_every_run(tmp_path: Path, capsys) -> None:
    runs, report = tmp_path / "runs", tmp_path / "report" / "ablation.md"
    argv = ["--seeds", "0", "--jobs", "2", "--runs-dir", str(runs), "--report", str(report),
            *(arg for override in [*TINY, "train.sft_steps=2"] for arg in ("--override", override))]
    assert bench.main(argv) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert out.count("start   ") == 5 and out.count("done    ") == 5
    assert "start   SFT base seed 0 (pretrain_base, OMP_NUM_THREADS=" in out
    assert len(list((runs / "sft_base").glob("*/summary.json"))) == 1  # one base, shared by every run
    for suffix in (".md", ".json", ".png"):
        assert report.with_suffix(suffix).stat().st_size > 0
    text = report.read_text()
    assert sum(text.count(f"\n| {label} | ") for label in LABELS) == 3
    assert "scale_name=smoke" in text and "train.online_iterations=1" in text
    raw = json.loads(report.with_suffix(".json").read_text())
    assert {(run["method"], run["seed"]) for run in raw["runs"]} == {(m, 0) for m in ["SFT base", "offline", *LABELS]}
    assert all(len(run["curve"]) == 1 for run in raw["runs"] if run["method"] not in ("offline", "SFT base"))
    assert (runs / "coso" / "seed0.log").exists()

    logs = {path: path.stat().st_size for path in runs.glob("*/*.log")}
    started = time.perf_counter()
    assert bench.main(argv) == 0
    assert time.perf_counter() - started < 15
    out = capsys.readouterr().out
    assert out.count("reuse   ") == 5 and "start   " not in out
    assert {path: path.stat().st_size for path in runs.glob("*/*.log")} == logs
    text = report.read_text()
    assert "0 runs executed, 5 reused" in text and "summed over the 1 invocation(s)" in text
    assert json.loads(report.with_suffix(".json").read_text())["grid_wall_seconds"] == raw["grid_wall_seconds"] > 0


FAKE_RUN = '''
import json, sys
from pathlib import Path
config = sys.argv[sys.argv.index("--config-name") + 1]
args = dict(arg.split("=", 1) for arg in sys.argv[1:] if "=" in arg)
print("fake run", config, args.get("seed", "0"))
args.setdefault("seed", "0")
if config == "digirl_offline" and args["seed"] == "1":
    print("boom: the offline run failed")
    sys.exit(3)
run = Path(args["save_path"])
run.mkdir(parents=True, exist_ok=True)
final = {"pretrain_base": 0.05, "digirl_offline": 0.1, "digirl_off2on": 0.2, "entropy_off2on": 0.3,
         "filteredbc_off2on": 0.25,
         "coso_off2on": 0.4}[config]
(run / "metrics.jsonl").write_text(json.dumps({"phase": "online", "env_steps": 8, "success_rate": final}) + "\\n")
(run / "config.yaml").write_text("scale_name: fake\\ntrain:\\n  online_iterations: 1\\n")
(run / "summary.json").write_text(json.dumps({"config_name": config, "seed": int(args["seed"]), "env_steps": 8,
    "episodes": 2, "eval_success_rate": {"initial": 0.0, "offline": 0.1, "final": final},
    "wall_seconds": {"online_update": 1.0}}))
'''


def test_a_failed_run_skips_its_seed_and_the_rest_of_the_grid_still_reports(tmp_path: Path, monkeypatch,
                                                                             capsys) -> None:
    script = tmp_path / "fake_run.py"
    script.write_text(FAKE_RUN)
    monkeypatch.setattr(grid, "RUN_SCRIPT", script)
    report = tmp_path / "ablation.md"
    argv = ["--seeds", "0,1", "--runs-dir", str(tmp_path / "runs"), "--report", str(report)]
    assert bench.main(argv) == 1
    captured = capsys.readouterr()
    assert "FAILED  offline seed 1" in captured.out and "boom: the offline run failed" in captured.out
    assert captured.out.count("skip    ") == 3 and "4 run(s) failed" in captured.err
    text = report.read_text()
    assert "| CoSo | 40.0 ± — | — | 0: 40.0 (missing: 1) |" in text and "scale_name=fake" in text
    assert "Ordering of the mean final eval success: CoSo (40.0%) > naive entropy (30.0%) > DigiRL (20.0%)." in text
    assert "- offline seed 1: exit code 3" in text and "- CoSo seed 1: not run: offline seed 1 failed" in text

    # a rerun with another budget would resume the runs with a mixed one: refused
    assert bench.main([*argv, "--override", "train.online_iterations=5"]) == 2
    assert "launched with other arguments" in capsys.readouterr().err
    assert bench.main([*argv, "--fresh", "--override", "train.online_iterations=5"]) == 1
    assert "train.online_iterations=5" in (tmp_path / "runs" / "offline" / "seed0.args.json").read_text()


def test_report_only_launches_nothing_and_lists_unfinished_runs(tmp_path: Path, monkeypatch, capsys) -> None:
    script = tmp_path / "fake_run.py"
    script.write_text(FAKE_RUN)
    monkeypatch.setattr(grid, "RUN_SCRIPT", script)
    runs, report = tmp_path / "runs", tmp_path / "ablation.md"
    assert bench.main(["--seeds", "0", "--runs-dir", str(runs), "--report", str(report)]) == 0
    shutil.rmtree(runs / "coso" / "seed0")  # as if the CoSo run had not finished yet
    capsys.readouterr()
    assert bench.main(["--seeds", "0", "--runs-dir", str(runs), "--report", str(report), "--report-only"]) == 0
    out = capsys.readouterr().out
    assert "start   " not in out and "4/5 runs finished (nothing launched)" in out
    assert not (runs / "coso" / "seed0").exists()
    text = report.read_text()
    assert "| DigiRL | 20.0 ± — |" in text and "- CoSo seed 0: not run or not finished" in text


def test_filtered_bc_runs_from_each_seeds_offline_checkpoint_and_the_title_names_the_environment(
        tmp_path: Path, monkeypatch, capsys) -> None:
    specs = grid.build_specs(tmp_path, [0, 1], ["env=gym_cards_numberline"], filtered_bc=True)
    filtered = [spec for spec in specs if spec.method == grid.FILTERED_BC]
    assert [spec.seed for spec in filtered] == [0, 1]
    for spec in filtered:
        assert spec.depends_on == ("offline", spec.seed)
        assert spec.save_path == tmp_path / "filteredbc" / f"seed{spec.seed}"
        assert f"load_path={tmp_path / 'offline' / f'seed{spec.seed}'}" in spec.hydra_args
    assert grid.FILTERED_BC not in {spec.method for spec in grid.build_specs(tmp_path, [0], [])}

    script = tmp_path / "fake_run.py"
    script.write_text(FAKE_RUN)
    monkeypatch.setattr(grid, "RUN_SCRIPT", script)
    runs, report = tmp_path / "runs", tmp_path / "ablation.md"
    argv = ["--seeds", "0", "--runs-dir", str(runs), "--report", str(report), "--filtered-bc", "--cores", "1",
            "--override", "env=gym_cards_numberline"]
    assert bench.main(argv) == 0
    assert "6/6 runs finished" in capsys.readouterr().out
    text = report.read_text()
    assert text.startswith("# Entropy ablation: DigiRL vs naive entropy vs CoSo vs Filtered BC (off2on, "
                           "env=gym_cards_numberline)")
    assert "| Filtered BC | 25.0 ± — |" in text
