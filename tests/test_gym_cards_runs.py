"""Tiny end-to-end runs on each Gym Cards game (env=gym_cards_<game>): training, collect and eval_only."""

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
from coso.env.gym_cards.grammar import parse_answer

SMALL = TINY + ["train.offline_episodes=4", "train.online_iterations=1", "train.rollout_size=2",
                "causal.pretrain_calls=1", "env.record_episodes=1"]
# one run config per game, so every training mode meets every game's rules at least once over the suite
RUNS = [("numberline", "coso_off2on"), ("ezpoints", "digirl_online"), ("points24", "digirl_offline"),
        ("blackjack", "coso_off2on")]




@pytest.mark.slow
@pytest.mark.parametrize("game, config_name", RUNS, ids=[game for game, _ in RUNS])
def test_a_tiny_training_run_on_each_game(game: str, config_name: str, tmp_path: Path) -> None:
    summary = run(config_name, SMALL + [f"env=gym_cards_{game}", f"save_path={tmp_path}"])
    assert summary["buffer_size"] > 0 and 0.0 <= summary["eval_success_rate"]["final"] <= 1.0
    assert summary["eval_episodes"] == 2 and set(summary["eval_success_rate"]) >= {"initial", "final"}
    assert "gym_cards" in (tmp_path / "config.yaml").read_text()
    gifs = sorted((tmp_path / "episodes").rglob("*.gif"))
    assert gifs, "the domain's screens are recorded in the episode GIFs"
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    if config_name.startswith("coso"):
        assert any(key.startswith("weights/") for line in metrics for key in line), "causal weights were computed"


@pytest.mark.slow
def test_collect_and_eval_only_with_the_expert(tmp_path: Path) -> None:
    collected = run("collect", TINY + ["env=gym_cards_ezpoints", "policy=expert", "noise=0.0", "episodes=6",
                                       f"save_path={tmp_path / 'collect'}"])
    trajectories = load_trajectories(tmp_path / "collect" / "dataset")
    assert len(trajectories) == 6 and all(t.success for t in trajectories), collected
    actions = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "+", "*", "=")
    assert all(parse_answer(step.action, actions).valid for t in trajectories for step in t.transitions)
    scored = run("eval_only", TINY + ["env=gym_cards_numberline", "policy=expert", "train.eval_episodes=5",
                                      "env.record_episodes=1", f"save_path={tmp_path / 'eval'}"])
    assert scored["eval_success_rate"] == {"eval": 1.0}
    assert list((tmp_path / "eval").rglob("*.gif"))


RUN_CONFIGS = sorted(path.stem for path in Path(CONFIG_DIR).glob("*.yaml") if path.stem != "common")
GAMES = ("numberline", "ezpoints", "points24", "blackjack")


@pytest.mark.parametrize("config_name", RUN_CONFIGS)
def test_every_run_config_composes_and_passes_its_checks_on_every_game(config_name: str) -> None:
    from coso.config import check_run_config
    from coso.env.factory import build_grammar
    from coso.training.sft_base import sft_base_key

    keys = set()
    for game in GAMES:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
            cfg = compose(config_name=config_name, overrides=[f"env=gym_cards_{game}"])
        config = OmegaConf.to_object(cfg)
        check_run_config(config)
        assert config.env.domain == "gym_cards" and config.env.gym_cards.game == game
        assert build_grammar(config.env).action_classes[-1] == "<invalid>"
        keys.add(json.dumps(sft_base_key(config)["env"], sort_keys=True))
    assert len(keys) == len(GAMES)  # each game has its own SFT base
