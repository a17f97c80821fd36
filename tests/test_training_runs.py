"""End-to-end runs on the simulated phone: off2on training, resume, eval-only, collect, and bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from coso.cli import CONFIG_DIR
from coso.config import RunConfig
from coso.errors import CheckpointError, TrainingError
from coso.runs import execute
from coso.training.checkpoint import read_checkpoint
from tiny_run import TINY

REPO_ROOT = Path(__file__).resolve().parent.parent


def compose_config(name: str, overrides: list[str]) -> tuple[RunConfig, dict]:
    """The typed config and its resolved dict, as scripts/run.py would build them."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        cfg = compose(config_name=name, overrides=overrides)
    return OmegaConf.to_object(cfg), OmegaConf.to_container(cfg, resolve=True)


def run_in_process(name: str, overrides: list[str]) -> dict:
    """Execute a run config in this process and return its summary."""
    config, resolved = compose_config(name, overrides)
    return json.loads(execute(config, resolved))


def run_script(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    """Run scripts/run.py as a user would."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "run.py"), *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=REPO_ROOT)


@pytest.fixture(scope="module")
def coso_run(tmp_path_factory) -> tuple[Path, dict]:
    """One tiny CoSo off2on run shared by the tests below (evaluations sample, so eval_only must reproduce the
    sampling of the final evaluation too)."""
    run_dir = tmp_path_factory.mktemp("coso_off2on")
    summary = run_in_process("coso_off2on", TINY + [f"save_path={run_dir}", "causal.heatmap_every=1",
                                                    "train.sft_steps=2", "agent.eval_temperature=1.0"])
    return run_dir, summary


def test_off2on_run_writes_everything(coso_run) -> None:
    run_dir, summary = coso_run
    assert summary["algorithm"] == "coso" and summary["train_mode"] == "off2on"
    assert set(summary["eval_success_rate"]) == {"initial", "sft", "offline", "final"}
    assert set(summary["eval_success_ci95"]) == {"initial", "sft", "offline", "final"}
    assert summary["online_iterations"] == 2
    assert summary["env_steps"] > 0 and summary["buffer_size"] > 0
    assert {"sft", "offline", "online_rollout", "online_update"} <= set(summary["wall_seconds"])
    for name in ("summary.json", "metrics.jsonl", "learning_curve.png", "config.yaml", "checkpoint/state.json"):
        assert (run_dir / name).exists(), name
    assert json.loads((run_dir / "summary.json").read_text()) == summary
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    phases = {record["phase"] for record in records}
    assert {"sft", "offline", "online", "eval_initial", "eval_sft", "eval_offline", "eval_final"} <= phases
    online = [r for r in records if r["phase"] == "online"]
    assert all("weights/share_above_0_8" in r and "entropy" in r for r in online if "actor_loss" in r)
    assert list((run_dir / "heatmaps").glob("*.png")), "causal-weight heatmaps are drawn every N updates"
    # SFT clones noise-free demonstrations; the offline dataset keeps its own noise for DigiRL's critics
    sft_manifest = json.loads((run_dir / "sft_data" / "manifest.json").read_text())
    offline_manifest = json.loads((run_dir / "offline_data" / "manifest.json").read_text())
    assert sft_manifest["extra"]["noise"] == 0.0 and offline_manifest["extra"]["noise"] == 0.3
    assert sft_manifest["num_trajectories"] == 8  # smoke scale's train.sft_episodes


def test_rerun_of_a_finished_run_resumes_without_training(coso_run) -> None:
    run_dir, summary = coso_run
    again = run_in_process("coso_off2on", TINY + [f"save_path={run_dir}", "causal.heatmap_every=1",
                                                  "train.sft_steps=2"])
    assert again["resumed"] is True
    assert again["online_iterations"] == summary["online_iterations"]
    assert again["buffer_size"] == summary["buffer_size"]
    assert again["eval_success_rate"] == summary["eval_success_rate"]


def test_eval_only_scores_the_checkpoint_on_the_first_tasks(coso_run, tmp_path) -> None:
    run_dir, _ = coso_run
    summary = run_in_process("eval_only", TINY + [f"load_path={run_dir}", f"save_path={tmp_path}"])
    assert summary["run"] == "eval" and summary["episodes"] == 2
    assert 0.0 <= summary["eval_success_rate"]["eval"] <= 1.0


def test_eval_only_on_the_final_checkpoint_reproduces_the_final_evaluation(coso_run, tmp_path) -> None:
    run_dir, summary = coso_run
    evaluated = run_in_process("eval_only", TINY + [f"load_path={run_dir}", f"save_path={tmp_path}",
                                                    "agent.eval_temperature=1.0"])
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    final = [record for record in records if record["phase"] == "eval_final"][-1]
    assert evaluated["episodes"] == summary["eval_episodes"] == final["eval_episodes"]
    assert evaluated["eval_success_rate"]["eval"] == summary["eval_success_rate"]["final"]
    assert evaluated["eval_success_ci95"]["eval"] == summary["eval_success_ci95"]["final"]
    # the same episodes, action for action: the steps they took and the invalid actions among them
    assert evaluated["env_steps"] == final["eval_env_steps"]
    assert evaluated["invalid_actions"] == final["eval_invalid_actions"]


def test_eval_task_file_scores_held_out_wording_with_an_interval(coso_run, tmp_path) -> None:
    run_dir, _ = coso_run
    tasks = tmp_path / "held_out.txt"
    tasks.write_text("Open the Settings app\n# a comment\nWhat's the weather in Tokyo?\n")
    summary = run_in_process("eval_only", TINY + [f"load_path={run_dir}", f"save_path={tmp_path / 'out'}",
                                                  f"eval_task_file={tasks}", "train.eval_episodes=3"])
    assert summary["episodes"] == 3 and summary["eval_task_file"] == str(tasks)
    low, high = summary["eval_success_ci95"]["eval"]
    assert 0.0 <= low <= summary["eval_success_rate"]["eval"] <= high <= 1.0 and high > 0.0


def test_evaluation_tasks_seen_in_training_are_counted() -> None:
    from coso.env.task_generator import generate_tasks
    from coso.training.summary import tasks_seen_in_training

    train = generate_tasks(20, 3, "general")
    assert tasks_seen_in_training(train[:5], train) == 5  # task_file without eval_task_file: its first lines
    held_out = [task for task in generate_tasks(40, 4, "general") if task.text not in {t.text for t in train}]
    assert held_out and tasks_seen_in_training(held_out, train) == 0


def test_summary_counts_evaluation_tasks_seen_in_training(coso_run) -> None:
    summary = coso_run[1]
    assert 0 <= summary["eval_tasks_in_training"] <= summary["eval_episodes"]


def test_missing_eval_task_file_is_one_clear_line(coso_run, tmp_path) -> None:
    result = run_script(["--config-name", "eval_only", f"load_path={coso_run[0]}", *TINY,
                         f"eval_task_file={tmp_path / 'x.txt'}", f"save_path={tmp_path}"])
    assert result.returncode == 2
    assert "eval_task_file" in result.stderr and "Traceback" not in result.stderr


def test_nan_loss_stops_with_the_step_and_keeps_the_checkpoint(coso_run, tmp_path, monkeypatch) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(coso_run[0], run_dir)
    before = read_checkpoint(run_dir)[0]
    import coso.training.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "actor_loss", lambda *args, **kwargs: args[0].sum() * float("nan"))
    with pytest.raises(TrainingError, match=r"non-finite actor loss .* optimiser step \d+"):
        run_in_process("coso_off2on", TINY + [f"save_path={run_dir}", "train.online_iterations=3"])
    after = read_checkpoint(run_dir)[0]
    assert after.online_iteration == before.online_iteration == 2


def test_collect_with_defaults_prints_summary_last(tmp_path) -> None:
    result = run_script(["--config-name", "collect", f"save_path={tmp_path}", "episodes=3", "logging.progress=false"])
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("tasks_total", "tasks_parsed", "episodes", "success_rate"):
        assert key in summary
    assert summary["episodes"] == 3 and summary["success_rate"] == 1.0
    assert (tmp_path / "dataset" / "manifest.json").exists()


def test_offline_dataset_from_collect_trains_digirl_offline(tmp_path) -> None:
    data = tmp_path / "collect"
    run_in_process("collect", [f"save_path={data}", "episodes=6", "noise=0.3", "logging.progress=false"])
    summary = run_in_process("digirl_offline", TINY + [f"save_path={tmp_path / 'run'}",
                                                       f"offline_data={data / 'dataset'}", "train.eval_initial=false"])
    assert summary["algorithm"] == "digirl" and summary["episodes"] == 6
    assert set(summary["eval_success_rate"]) == {"offline", "final"}

    # off2on reuses that offline checkpoint; CoSo pretrains the causal model the DigiRL run never trained
    coso = run_in_process("coso_off2on", TINY + [f"save_path={tmp_path / 'coso'}", f"load_path={tmp_path / 'run'}",
                                                 "train.online_iterations=1"])
    assert coso["eval_success_rate"]["offline"] == summary["eval_success_rate"]["offline"]
    assert coso["online_iterations"] == 1 and coso["buffer_size"] > summary["buffer_size"]
    state = json.loads((tmp_path / "coso" / "checkpoint" / "state.json").read_text())["state"]
    assert state["causal_calls"] == 2 + 1  # smoke scale: 2 pretraining calls, then 1 per iteration


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _online_iteration(run_dir: Path) -> int:
    try:
        return read_checkpoint(run_dir)[0].online_iteration
    except CheckpointError:
        return -1


def test_sigkill_mid_iteration_then_rerun_matches_an_unbroken_run(tmp_path) -> None:
    args = ["--config-name", "digirl_online", *TINY, "train.online_iterations=3", "train.eval_initial=false"]
    unbroken = run_script(args + [f"save_path={tmp_path / 'unbroken'}"])
    assert unbroken.returncode == 0, unbroken.stderr
    expected = json.loads(unbroken.stdout.strip().splitlines()[-1])

    run_dir = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, str(REPO_ROOT / "scripts" / "run.py"), *args, f"save_path={run_dir}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO_ROOT)
    try:
        assert _wait_for(lambda: _online_iteration(run_dir) >= 1, timeout=240), "no checkpoint appeared"
        time.sleep(0.3)  # into the next iteration
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert _online_iteration(run_dir) in (1, 2)
    resumed = run_script(args + [f"save_path={run_dir}"])
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert summary["resumed"] is True
    assert summary["online_iterations"] == expected["online_iterations"] == 3
    assert summary["buffer_size"] == expected["buffer_size"]
    from test_resume_exact import tensors  # bit-exact across processes too, tensor for tensor

    unbroken_tensors, resumed_tensors = tensors(tmp_path / "unbroken"), tensors(run_dir)
    assert unbroken_tensors.keys() == resumed_tensors.keys()
    assert all(torch.equal(unbroken_tensors[name], resumed_tensors[name]) for name in unbroken_tensors)


def test_missing_checkpoint_is_one_clear_line(tmp_path) -> None:
    result = run_script(["--config-name", "eval_only", f"load_path={tmp_path / 'nope'}", f"save_path={tmp_path}"])
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: checkpoint path") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_checkpoint_missing_files_is_one_clear_line(coso_run, tmp_path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(coso_run[0], broken)
    shutil.rmtree(broken / "checkpoint" / "models")
    result = run_script(["--config-name", "eval_only", f"load_path={broken}", f"save_path={tmp_path / 'out'}"])
    assert result.returncode == 2 and "missing models" in result.stderr and "Traceback" not in result.stderr


def test_bad_adam_beta2_is_one_clear_line(tmp_path) -> None:
    result = run_script(["--config-name", "digirl_online", *TINY, "train.lm_adam_beta2=1.5", f"save_path={tmp_path}"])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: train.lm_adam_beta2=1.5 must be < 1")


def test_missing_offline_dataset_is_refused_before_any_work(tmp_path) -> None:
    result = run_script(["--config-name", "digirl_offline", *TINY, "train.sft_steps=2",
                         f"offline_data={tmp_path / 'nope'}", f"save_path={tmp_path / 'run'}"])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: no dataset at {tmp_path / 'nope'}")
    assert not (tmp_path / "run" / "metrics.jsonl").exists()  # no evaluation or SFT ran first


def test_unknown_config_key_is_refused_by_name(tmp_path) -> None:
    result = run_script(["--config-name", "coso_off2on", "train.bogus_key=1", f"save_path={tmp_path}"])
    assert result.returncode != 0
    assert "bogus_key" in result.stderr and "Traceback" not in result.stderr


def test_dataset_with_wrong_fields_is_one_clear_line(tmp_path) -> None:
    data = tmp_path / "collect"
    run_in_process("collect", [f"save_path={data}", "episodes=2", "logging.progress=false"])
    transitions = data / "dataset" / "transitions.jsonl"
    lines = transitions.read_text().splitlines()
    record = json.loads(lines[0])
    del record["action"]
    transitions.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")
    result = run_script(["--config-name", "digirl_offline", *TINY, f"offline_data={data / 'dataset'}",
                         f"save_path={tmp_path / 'run'}"])
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "transitions.jsonl" in result.stderr and "action" in result.stderr


def test_config_redaction_hides_secrets_but_not_token_counts() -> None:
    from coso.training.run_logger import REDACTED, redact_secrets

    config = {"judge": {"api_key": "k1", "hf_token": "k2", "password": "k3"},
              "agent": {"max_new_tokens": 128, "tokenizer_vocab_size": 2048, "token": "k4"}}
    redacted = redact_secrets(config)
    assert redacted["judge"] == {"api_key": REDACTED, "hf_token": REDACTED, "password": REDACTED}
    assert redacted["agent"] == {"max_new_tokens": 128, "tokenizer_vocab_size": 2048, "token": REDACTED}


def test_sft_base_is_built_once_reused_by_other_runs_and_rebuilt_when_its_key_changes(tmp_path) -> None:
    cache = tmp_path / "bases"
    base_args = TINY + ["train.sft_steps=2", f"train.sft_cache_dir={cache}"]
    first = run_in_process("digirl_offline", base_args + [f"save_path={tmp_path / 'a'}"])
    assert first["sft_base"]["built_this_run"] is True
    path = Path(first["sft_base"]["path"])
    assert path.parent == cache and (path / "summary.json").is_file() and (path / "base_key.json").is_file()
    assert set(first["eval_success_rate"]) == {"initial", "sft", "offline", "final"}

    # another algorithm and seed: the same base (seed and algorithm are not part of its key)
    second = run_in_process("coso_off2on", base_args + [f"save_path={tmp_path / 'b'}", "seed=1"])
    assert second["sft_base"]["built_this_run"] is False and second["sft_base"]["path"] == str(path)
    assert second["eval_success_rate"]["sft"] == first["eval_success_rate"]["sft"]

    # a change to the warm start: another base, built by the explicit command
    third = json.loads(execute(*compose_config("pretrain_base", TINY + [
        "train.sft_steps=3", f"train.sft_cache_dir={cache}", f"save_path={tmp_path / 'c'}"])))
    assert third["run"] == "base" and third["sft_base"]["built_this_run"] is True
    assert third["sft_base"]["path"] != str(path) and len(list(cache.iterdir())) == 2
    again = json.loads(execute(*compose_config("pretrain_base", TINY + [
        "train.sft_steps=3", f"train.sft_cache_dir={cache}", f"save_path={tmp_path / 'c'}"])))
    assert again["sft_base"]["built_this_run"] is False and again["sft_base"]["path"] == third["sft_base"]["path"]


def test_offline_source_policy_collects_the_warm_started_policys_own_rollouts(tmp_path) -> None:
    summary = run_in_process("digirl_offline", TINY + ["train.sft_steps=2", "train.offline_source=policy",
                                                       "train.offline_episodes=3", f"save_path={tmp_path}"])
    assert set(summary["eval_success_rate"]) == {"initial", "sft", "offline", "final"}
    manifest = json.loads((tmp_path / "offline_data" / "manifest.json").read_text())
    assert manifest["created"]["source"] == "policy" and manifest["num_trajectories"] == 3


def test_unknown_offline_source_is_one_clear_line(tmp_path) -> None:
    result = run_script(["--config-name", "digirl_offline", *TINY, "train.offline_source=expert",
                         f"save_path={tmp_path}"])
    assert result.returncode == 2 and "train.offline_source" in result.stderr and "Traceback" not in result.stderr
