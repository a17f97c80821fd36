"""The behaviour-cloning anchor of the DigiRL/CoSo actor update (algorithm.bc_anchor_coeff)."""

from __future__ import annotations

import copy

import pytest
import torch
from accelerate import Accelerator
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from coso.cli import CONFIG_DIR
from coso.config import RunConfig, validate_run_config
from coso.data.buffer import ReplayBuffer, collate_transitions
from coso.env.sim.expert import ExpertPolicy
from coso.env.factory import build_encoder, build_pool, load_tasks
from coso.errors import ConfigError
from coso.rollout import collect_trajectories
from coso.training.components import build_models
from coso.training.trainer import Trainer
from tiny_run import TINY


def _config(anchor: float) -> RunConfig:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        cfg = compose(config_name="digirl_off2on", overrides=TINY + [f"algorithm.bc_anchor_coeff={anchor}",
                                                                      "train.lm_lr=1e-3"])
    return OmegaConf.to_object(cfg)


@pytest.fixture(scope="module")
def demonstrations():
    """Two successful expert episodes on different tasks: one for the kept set, one for the anchor."""
    config = _config(0.0)
    train_tasks, _ = load_tasks(config)
    with build_pool(config.env, 0) as pool:
        result = collect_trajectories(pool, ExpertPolicy(point_decimals=config.env.point_decimals), train_tasks[:2],
                                      build_encoder(config.env), seeds=0, gamma=0.5, progress=False)
    assert all(t.success for t in result.trajectories)
    return result.trajectories


def _anchor_nll_after(anchor_coeff: float, demonstrations, steps: int = 30) -> tuple[float, dict]:
    config = _config(anchor_coeff)
    torch.manual_seed(0)
    models = build_models(config)
    trainer = Trainer(models, config, Accelerator(cpu=True), torch.Generator().manual_seed(0))
    kept, anchor = copy.deepcopy(demonstrations[0]), copy.deepcopy(demonstrations[1])
    metrics = trainer.train_actor(ReplayBuffer(1000, [kept]), steps, entropy=False,
                                  anchor=ReplayBuffer(1000, [anchor]))
    batch = collate_transitions(anchor.transitions)
    with torch.no_grad():
        stats = trainer.policy(batch.prompts, batch.image_features, batch.actions)
        nll = float(-(stats.log_probs * stats.mask).sum() / stats.mask.sum())
    return nll, metrics


def test_anchor_lowers_the_nll_of_the_anchor_actions_and_reports_its_loss(demonstrations) -> None:
    without, plain_metrics = _anchor_nll_after(0.0, demonstrations)
    with_anchor, anchor_metrics = _anchor_nll_after(1.0, demonstrations)
    assert "bc_anchor_loss" not in plain_metrics
    assert anchor_metrics["bc_anchor_loss"] > 0
    assert with_anchor < without - 0.1


def test_negative_anchor_coefficient_is_refused() -> None:
    with pytest.raises(ConfigError, match="bc_anchor_coeff"):
        validate_run_config(_config(-1.0))
