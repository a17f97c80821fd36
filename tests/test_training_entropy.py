"""The entropy bonus chosen by use_entropy / use_causal, and CoSo's cached causal weights."""

from __future__ import annotations

import pytest
import torch

from coso.actions import Action, ActionType, format_action
from coso.algorithms.coso import counterfactual_token_weights, special_and_punctuation_mask
from coso.config import RunConfig
from coso.errors import ConfigError
from coso.models.autoui import TokenStats
from coso.models.causal import ActionTypeClassifier, ActionTypeClassifierConfig, action_type_labels
from coso.models.text_encoder import SmallEncoderConfig
from coso.training.entropy import (
    CausalEntropyBonus,
    NoEntropyBonus,
    UniformEntropyBonus,
    build_entropy_bonus,
)
from coso.training.tokenizer import build_default_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return build_default_tokenizer()


@pytest.fixture(scope="module")
def classifier(tokenizer) -> ActionTypeClassifier:
    config = ActionTypeClassifierConfig(encoder=SmallEncoderConfig(hidden=32, heads=2, layers=1, ffn=64, dropout=0.0))
    return ActionTypeClassifier.from_config(config, tokenizer).eval()


def _stats(tokenizer, actions: list[str]) -> TokenStats:
    batch = tokenizer(actions, padding=True, return_tensors="pt")
    mask = batch["attention_mask"].float()
    entropies = torch.rand(mask.shape, generator=torch.Generator().manual_seed(0)) * mask
    return TokenStats(log_probs=-entropies, entropies=entropies, mask=mask, token_ids=batch["input_ids"])


def _config(use_entropy: bool, use_causal: bool) -> RunConfig:
    config = RunConfig()
    config.use_entropy, config.use_causal = use_entropy, use_causal
    return config


def test_flags_choose_digirl_naive_entropy_or_coso(tokenizer, classifier) -> None:
    models = lambda: type("M", (), {"causal": classifier})()  # noqa: E731
    assert isinstance(build_entropy_bonus(_config(False, False), models, tokenizer), NoEntropyBonus)
    assert isinstance(build_entropy_bonus(_config(True, False), models, tokenizer), UniformEntropyBonus)
    assert isinstance(build_entropy_bonus(_config(True, True), models, tokenizer), CausalEntropyBonus)
    with pytest.raises(ConfigError, match="use_causal=true needs use_entropy=true"):
        build_entropy_bonus(_config(False, True), models, tokenizer)


def test_cached_weights_equal_fresh_ones_and_each_action_is_computed_once(tokenizer, classifier) -> None:
    tap = format_action(Action.tap(0.25, 0.5))
    typed = format_action(Action.type_text("logitech g910"))
    actions = [tap, typed, tap, "garbage that does not parse", format_action(Action(ActionType.Enter)), typed]
    stats = _stats(tokenizer, actions)
    bonus = CausalEntropyBonus(1.0, "token_mean", "reference", lambda: classifier, tokenizer)
    output = bonus(stats, actions)
    labels = action_type_labels(actions)
    expected = counterfactual_token_weights(
        stats.token_ids, stats.mask.long(), labels.labels, classifier.probabilities,
        null_token_id=classifier.null_token_id, window=4,
        zero_mask=special_and_punctuation_mask(stats.token_ids, tokenizer), valid=labels.valid)
    assert torch.allclose(output.weights, expected, atol=1e-5)
    assert bonus.cache_misses == 4 and bonus.cache_hits == 2
    assert torch.all(output.weights[3] == 0), "an unparseable action keeps its row, with zero weight"
    assert output.entropy.shape == (len(actions),) and torch.isfinite(output.entropy).all()
    bonus(stats, actions)
    assert bonus.cache_misses == 4, "a second batch of the same actions is served from the cache"
    bonus.invalidate()
    bonus(stats, actions)
    assert bonus.cache_misses == 8


def test_batch_of_one_and_uniform_weights(tokenizer, classifier) -> None:
    actions = [format_action(Action(ActionType.TaskComplete))]
    stats = _stats(tokenizer, actions)
    output = CausalEntropyBonus(1.0, "sum", "reference", lambda: classifier, tokenizer)(stats, actions)
    assert output.weights.shape == stats.mask.shape and torch.isfinite(output.weights).all()
    uniform = UniformEntropyBonus(1.0, "token_mean")(stats, actions)
    assert torch.allclose(uniform.entropy, (stats.entropies * stats.mask).sum(-1) / stats.mask.sum(-1))
