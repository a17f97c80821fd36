"""Resume is bit-exact: a run stopped after every checkpoint (and once before the first) ends tensor for tensor,
and metric for metric, where the unbroken run does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from safetensors.torch import load_file

import coso.training.loop as loop
from coso.cli import CONFIG_DIR
from coso.runs import execute
from coso.training.checkpoint import load_tensors_state
from tiny_run import TINY

OVERRIDES = TINY + ["train.sft_steps=2", "logging.wandb_mode=disabled"]


class Stop(Exception):
    """Stands for a kill: raised right after a checkpoint (or an evaluation) is written."""


def run(save_path: Path, extra: list[str], config_name: str = "coso_off2on") -> dict[str, Any]:
    """One off2on run of the tiny config (CoSo's by default), in process."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        cfg = compose(config_name=config_name, overrides=OVERRIDES + extra + [f"save_path={save_path}"])
    return json.loads(execute(OmegaConf.to_object(cfg), OmegaConf.to_container(cfg, resolve=True)))


def metrics(run_dir: Path) -> list[dict[str, Any]]:
    """metrics.jsonl without the clock: wall times and timestamps differ between any two runs."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "time" and not k.endswith("wall_seconds")} for r in records]


def tensors(run_dir: Path) -> dict[str, torch.Tensor]:
    """Every weight and optimiser tensor of the run's checkpoint, by file and name."""
    found: dict[str, torch.Tensor] = {}
    checkpoint = run_dir / "checkpoint"
    for path in sorted(checkpoint.rglob("model.safetensors")):
        found.update({f"{path.parent.name}/{name}": t for name, t in load_file(path).items()})

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, torch.Tensor):
            found[prefix] = value
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}/{key}", item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(f"{prefix}/{index}", item)

    walk("optimizers", load_tensors_state(checkpoint / "optimizers.pt"))
    return found


def state(run_dir: Path) -> dict[str, Any]:
    """state.json without the wall times."""
    document = json.loads((run_dir / "checkpoint" / "state.json").read_text())
    document["state"].pop("wall_seconds")
    return document


# the default, the KL anchor (its frozen reference policy is part of the checkpoint), and AFSFT (its Q head, target,
# their optimiser and PopArt statistics, the beta schedule's count, epsilon-greedy exploration; unconstrained
# decoding so that invalid actions and their shaped rewards are part of the run)
AFSFT = ["agent.constrained_decoding=false", "algorithm.afsft.beta_warmup_steps=2", "algorithm.afsft.epsilon=0.5"]


@pytest.mark.parametrize("config_name, extra", [("coso_off2on", []), ("coso_off2on", ["algorithm.kl_anchor_coeff=1.0"]),
                                                ("afsft_off2on", AFSFT)], ids=["default", "kl_anchor", "afsft"])
def test_a_run_stopped_after_every_checkpoint_equals_the_unbroken_run(tmp_path, monkeypatch, config_name,
                                                                      extra) -> None:
    original_checkpoint = loop.TrainingRun.checkpoint
    original_evaluate = loop.TrainingRun.evaluate
    written: list[int] = []

    def counting(self) -> None:
        original_checkpoint(self)
        written.append(1)

    monkeypatch.setattr(loop.TrainingRun, "checkpoint", counting)
    unbroken = run(tmp_path / "unbroken", extra, config_name)
    checkpoints = len(written)
    assert checkpoints == 5  # SFT, offline, 2 online iterations, final evaluation

    broken = tmp_path / "broken"

    def killed_after_initial_evaluation(self, name: str) -> float:
        original_evaluate(self, name)
        raise Stop()

    monkeypatch.setattr(loop.TrainingRun, "evaluate", killed_after_initial_evaluation)
    with pytest.raises(Stop):  # killed before the first checkpoint: a line in metrics.jsonl, no checkpoint
        run(broken, extra, config_name)
    assert len(metrics(broken)) == 1 and not (broken / "checkpoint").exists()
    monkeypatch.setattr(loop.TrainingRun, "evaluate", original_evaluate)

    def killed_after_checkpoint(self) -> None:
        original_checkpoint(self)
        raise Stop()

    monkeypatch.setattr(loop.TrainingRun, "checkpoint", killed_after_checkpoint)
    for _ in range(checkpoints):  # each segment resumes from the last checkpoint and stops after the next
        with pytest.raises(Stop):
            run(broken, extra, config_name)
    monkeypatch.setattr(loop.TrainingRun, "checkpoint", original_checkpoint)
    resumed = run(broken, extra, config_name)

    assert resumed["resumed"] is True and resumed["eval_success_rate"] == unbroken["eval_success_rate"]
    assert metrics(broken) == metrics(tmp_path / "unbroken")  # no duplicated or stale line, same values
    assert state(broken) == state(tmp_path / "unbroken")  # counters and every RNG state
    expected, got = tensors(tmp_path / "unbroken"), tensors(broken)
    assert expected.keys() == got.keys()
    if "algorithm.kl_anchor_coeff=1.0" in extra:  # the anchor's reference is in the checkpoint, trained by nobody
        assert any(name.startswith("reference_policy/") for name in expected)
    if config_name == "afsft_off2on":  # the Q head, its target and its optimiser are in the checkpoint
        assert {"q_head/td_updates", "q_target/popart_mean"} <= expected.keys()
        assert any(name.startswith("optimizers/q_head/") for name in expected)
    differing = [name for name in expected if not torch.equal(expected[name], got[name])]
    assert not differing, f"tensors differ after resume: {differing[:5]}"
