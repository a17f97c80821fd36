"""The KL anchor to the warm-start policy (algorithm.kl_anchor_coeff, coso/algorithms/kl.py)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from accelerate import Accelerator
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from tiny_run import TINY

from coso.algorithms.kl import reference_kl
from coso.cli import CONFIG_DIR
from coso.config import RunConfig, validate_run_config
from coso.data.buffer import ReplayBuffer, collate_transitions
from coso.env.sim.expert import ExpertPolicy
from coso.env.factory import build_encoder, build_pool, load_tasks
from coso.errors import ConfigError
from coso.rollout import collect_trajectories
from coso.training.components import build_models
from coso.training.trainer import Trainer


def test_reference_kl_matches_a_hand_computed_case() -> None:
    reference = torch.log(torch.tensor([[[0.5, 0.5], [0.9, 0.1]]]))
    policy = torch.log(torch.tensor([[[0.25, 0.75], [0.1, 0.9]]]))
    mask = torch.tensor([[1.0, 0.0]])  # the second position is padding
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert float(reference_kl(policy, reference, mask)) == pytest.approx(expected, abs=1e-6)
    both = reference_kl(policy, reference, torch.ones(1, 2))
    second = 0.9 * math.log(0.9 / 0.1) + 0.1 * math.log(0.1 / 0.9)
    assert float(both) == pytest.approx(expected + second, abs=1e-5)  # summed over the action's tokens
    two_rows = reference_kl(torch.cat([policy, reference]), torch.cat([reference, reference]), torch.ones(2, 2))
    assert float(two_rows) == pytest.approx((expected + second) / 2, abs=1e-5)  # averaged over the batch


def test_reference_kl_is_zero_for_the_reference_itself_and_finite_at_masked_tokens() -> None:
    reference = torch.log(torch.tensor([[[0.7, 0.3, 0.0]]]))  # the third token is impossible (-inf)
    assert float(reference_kl(reference.clone(), reference, torch.ones(1, 1))) == pytest.approx(0.0, abs=1e-7)
    policy = torch.log(torch.tensor([[[0.0, 0.5, 0.5]]])).requires_grad_(True)  # -inf where the reference has mass
    kl = reference_kl(policy, reference, torch.ones(1, 1))
    kl.backward()
    assert math.isfinite(float(kl.detach())) and float(kl.detach()) > 100 and torch.isfinite(policy.grad).all()


def test_reference_kl_refuses_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="must both be"):
        reference_kl(torch.zeros(1, 2, 3), torch.zeros(1, 2, 4), torch.ones(1, 2))
    with pytest.raises(ValueError, match="mask"):
        reference_kl(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), torch.ones(1, 3))


def _config(kl: float) -> RunConfig:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        cfg = compose(config_name="digirl_off2on", overrides=TINY + [f"algorithm.kl_anchor_coeff={kl}",
                                                                      "train.lm_lr=1e-3"])
    return OmegaConf.to_object(cfg)


@pytest.fixture(scope="module")
def demonstrations():
    """Two successful expert episodes: the kept set the actor learns, and other states for the KL."""
    config = _config(0.0)
    train_tasks, _ = load_tasks(config)
    with build_pool(config.env, 0) as pool:
        result = collect_trajectories(pool, ExpertPolicy(point_decimals=config.env.point_decimals), train_tasks[:2],
                                      build_encoder(config.env), seeds=0, gamma=0.5, progress=False)
    return result.trajectories


def _kl_after(kl_coeff: float, demonstrations, steps: int = 30) -> tuple[float, dict]:
    """Sequence KL(reference || policy) on the second episode's states after ``steps`` actor updates on the first."""
    config = _config(kl_coeff)
    torch.manual_seed(0)
    models = build_models(config)
    reference = copy.deepcopy(models.policy).eval().requires_grad_(False)
    trainer = Trainer(models, config, Accelerator(cpu=True), torch.Generator().manual_seed(0))
    kept, other = copy.deepcopy(demonstrations[0]), copy.deepcopy(demonstrations[1])
    metrics = trainer.train_actor(ReplayBuffer(1000, [kept]), steps, entropy=False, reference=reference,
                                  kl_source=ReplayBuffer(1000, [kept, other]))
    batch = collate_transitions(other.transitions)
    with torch.no_grad():
        stats = trainer.policy(batch.prompts, batch.image_features, batch.actions)
        reference_stats = reference.token_stats(batch.prompts, batch.image_features, batch.actions)
    return float(reference_kl(stats.vocab_log_probs, reference_stats.vocab_log_probs, stats.mask)), metrics


def test_the_anchor_keeps_the_policy_near_its_reference_and_reports_the_kl(demonstrations) -> None:
    free, free_metrics = _kl_after(0.0, demonstrations)
    anchored, anchored_metrics = _kl_after(1.0, demonstrations)
    assert "kl_to_reference" not in free_metrics
    assert anchored_metrics["kl_to_reference"] >= 0
    assert free > 1.0 and anchored < 0.75 * free


def test_negative_kl_coefficient_is_refused() -> None:
    with pytest.raises(ConfigError, match="kl_anchor_coeff"):
        validate_run_config(_config(-0.5))
