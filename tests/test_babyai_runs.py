"""Tiny end-to-end runs on BabyAI (env=babyai_<level>): a training run per level family, collect and eval_only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from in_process import run_in_process as run
from omegaconf import OmegaConf
from tiny_run import TINY

from coso.cli import CONFIG_DIR
from coso.data.dataset import load_trajectories
from coso.env.babyai.env import LEVELS
from coso.env.babyai.grammar import parse_answer

# a short horizon keeps an untrained policy's episodes (and so the run) short
SMALL = TINY + ["train.offline_episodes=4", "train.online_iterations=1", "train.rollout_size=2",
                "causal.pretrain_calls=1", "env.record_episodes=1", "env.babyai.max_steps=6",
                "agent.max_new_tokens=8"]
# one run per level family, so every training mode meets BabyAI at least once over the suite
RUNS = [("gotolocal", "coso_off2on"), ("pickuploc", "digirl_online"), ("opendoor", "digirl_offline"),
        ("putnextlocal", "coso_off2on")]




@pytest.mark.slow
@pytest.mark.parametrize("level, config_name", RUNS, ids=[level for level, _ in RUNS])
def test_a_tiny_training_run_on_each_level_family(level: str, config_name: str, tmp_path: Path) -> None:
    summary = run(config_name, SMALL + [f"env=babyai_{level}", f"save_path={tmp_path}"])
    assert summary["buffer_size"] > 0 and 0.0 <= summary["eval_success_rate"]["final"] <= 1.0
    assert summary["eval_episodes"] == 2 and set(summary["eval_success_rate"]) >= {"initial", "final"}
    assert "babyai" in (tmp_path / "config.yaml").read_text()
    gifs = sorted((tmp_path / "episodes").rglob("*.gif"))
    assert gifs, "the rendered views are recorded in the episode GIFs"
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    if config_name.startswith("coso"):
        assert any(key.startswith("weights/") for line in metrics for key in line), "causal weights were computed"


@pytest.mark.slow
def test_collect_and_eval_only_with_the_expert(tmp_path: Path) -> None:
    collected = run("collect", TINY + ["env=babyai_putnextlocal", "policy=expert", "noise=0.0", "episodes=4",
                                       f"save_path={tmp_path / 'collect'}"])
    trajectories = load_trajectories(tmp_path / "collect" / "dataset")
    assert len(trajectories) == 4 and all(t.success for t in trajectories), collected
    assert all(parse_answer(step.action).valid for t in trajectories for step in t.transitions)
    assert all(t.transitions[0].prompt.startswith("Goal: put ") for t in trajectories)
    scored = run("eval_only", TINY + ["env=babyai_gotolocal", "policy=expert", "train.eval_episodes=5",
                                      "env.record_episodes=1", f"save_path={tmp_path / 'eval'}"])
    assert scored["eval_success_rate"] == {"eval": 1.0}
    assert list((tmp_path / "eval").rglob("*.gif"))


RUN_CONFIGS = sorted(path.stem for path in Path(CONFIG_DIR).glob("*.yaml") if path.stem != "common")


@pytest.mark.parametrize("config_name", RUN_CONFIGS)
def test_every_run_config_composes_and_passes_its_checks_on_every_level(config_name: str) -> None:
    from coso.config import check_run_config
    from coso.env.factory import build_grammar
    from coso.training.sft_base import sft_base_key

    keys = set()
    for level in LEVELS:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
            cfg = compose(config_name=config_name, overrides=[f"env=babyai_{level}"])
        config = OmegaConf.to_object(cfg)
        check_run_config(config)
        assert config.env.domain == "babyai" and config.env.babyai.level == level
        assert build_grammar(config.env).action_classes[-1] == "<invalid>"
        keys.add(json.dumps(sft_base_key(config)["env"], sort_keys=True))
    assert len(keys) == len(LEVELS)  # each level has its own SFT base
