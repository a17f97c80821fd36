"""The entropy bonus of the soft actor update: none (DigiRL), uniform weights (naive entropy) or causal (CoSo).

Chosen by the reference's flags ``use_entropy`` and ``use_causal`` through a registry; ``NoEntropyBonus`` is
the null object, so the actor update never asks whether a bonus exists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from coso.actions import AUTOUI_GRAMMAR, ActionGrammar
from coso.algorithms.coso import (
    CPU_CHUNK_SIZE,
    WeightResources,
    causal_entropy,
    special_and_punctuation_mask,
    token_weights,
    uniform_weights,
    weight_statistics,
)
from coso.config import RunConfig
from coso.env.factory import build_grammar
from coso.errors import ConfigError
from coso.models.autoui import TokenStats
from coso.models.causal import ActionTypeClassifier, action_type_labels


@dataclass
class BonusOutput:
    """Per-sample bonus entropies [B] (weights already applied), the weights [B, T] and metrics."""

    entropy: torch.Tensor
    weights: torch.Tensor | None = None
    metrics: dict[str, float] = field(default_factory=dict)


class EntropyBonus(Protocol):
    """Turns the policy's per-token entropies into the per-sample bonus H^B."""

    alpha: float
    name: str

    def __call__(self, stats: TokenStats, actions: Sequence[str]) -> BonusOutput:
        """The bonus of one batch."""

    def invalidate(self) -> None:
        """Forget anything derived from the causal model (called after it trains)."""


class NoEntropyBonus:
    """DigiRL: no entropy term (alpha 0)."""

    name = "none"

    def __init__(self) -> None:
        self.alpha = 0.0

    def invalidate(self) -> None:
        """Nothing cached."""

    def __call__(self, stats: TokenStats, actions: Sequence[str]) -> BonusOutput:
        """A zero bonus that keeps the graph shape simple."""
        return BonusOutput(torch.zeros(stats.mask.shape[0], device=stats.mask.device))


class UniformEntropyBonus:
    """Naive entropy: every action token weighs 1."""

    name = "uniform"

    def __init__(self, alpha: float, reduction: str) -> None:
        self.alpha = alpha
        self.reduction = reduction

    def invalidate(self) -> None:
        """Nothing cached."""

    def __call__(self, stats: TokenStats, actions: Sequence[str]) -> BonusOutput:
        """Mean (or sum) of the token entropies of each action."""
        weights = uniform_weights(stats.mask)
        entropy = causal_entropy(stats.entropies, weights, stats.mask, self.reduction)
        return BonusOutput(entropy, weights, {"entropy": float(entropy.detach().mean()) if entropy.numel() else 0.0})


class CausalEntropyBonus:
    """CoSo: token entropies weighted by their counterfactual effect on the parsed action.

    A token's weight depends only on its action's tokens and the causal model, which is frozen while the
    actor trains; weights are therefore computed once per distinct action and cached until the causal model
    is trained again (``invalidate``). Results are identical to computing every row afresh.
    """

    name = "causal"

    def __init__(self, alpha: float, reduction: str, estimator: str, causal_model: Callable[[], ActionTypeClassifier],
                 tokenizer, chunk_size: int | None = None, grammar: ActionGrammar = AUTOUI_GRAMMAR) -> None:
        self.alpha = alpha
        self.grammar = grammar  # the domain's: which action class each text is
        self.reduction = reduction
        self.estimator = estimator
        self._causal_model = causal_model
        self.tokenizer = tokenizer
        self.chunk_size = chunk_size
        self._cache: dict[tuple[int, ...], torch.Tensor] = {}
        self.cache_hits = 0
        self.cache_misses = 0

    def invalidate(self) -> None:
        """Forget cached weights (the causal model changed)."""
        self._cache.clear()

    def _compute(self, rows: list[tuple[int, ...]], actions: Sequence[str]) -> list[torch.Tensor]:
        """Weights of distinct token rows, in one vectorised call."""
        model = self._causal_model()
        width = max(len(row) for row in rows)
        pad = self.tokenizer.pad_token_id
        token_ids = torch.tensor([list(row) + [pad] * (width - len(row)) for row in rows], dtype=torch.long)
        mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows], dtype=torch.long)
        labels = action_type_labels(actions, self.grammar)
        device = model.device
        resources = WeightResources(
            null_token_id=model.null_token_id,
            type_probabilities_fn=model.probabilities,
            decode_fn=lambda ids: self.tokenizer.decode(ids, skip_special_tokens=True),
            # on CPU, chunks of rows are faster than one huge call (benchmarks/reports/causal_weights.md)
            chunk_size=self.chunk_size or (CPU_CHUNK_SIZE if device.type == "cpu" else None),
        )
        zero_mask = special_and_punctuation_mask(token_ids, self.tokenizer)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                weights = token_weights(self.estimator, token_ids.to(device), mask.to(device),
                                        labels.labels.to(device), resources, zero_mask=zero_mask.to(device),
                                        valid=labels.valid.to(device))
        finally:
            model.train(was_training)
        return [weights[index, : len(row)].detach().cpu() for index, row in enumerate(rows)]

    def weights(self, token_ids: torch.Tensor, mask: torch.Tensor, actions: Sequence[str]) -> torch.Tensor:
        """Counterfactual token weights [B, T] of the actions' tokens (0 for unparseable actions)."""
        rows = [tuple(ids[m.bool()].tolist()) for ids, m in zip(token_ids.cpu(), mask.cpu())]
        missing: dict[tuple[int, ...], str] = {}
        for row, action in zip(rows, actions):
            if row not in self._cache and row not in missing and row:
                missing[row] = action
        self.cache_misses += len(missing)
        self.cache_hits += len(rows) - len(missing)
        if missing:
            for row, row_weights in zip(missing, self._compute(list(missing), list(missing.values()))):
                self._cache[row] = row_weights
        result = torch.zeros(mask.shape, dtype=torch.float32)
        for index, row in enumerate(rows):
            if row:
                positions = mask[index].bool().cpu().nonzero().squeeze(-1)
                result[index, positions] = self._cache[row]
        return result.to(mask.device)

    def __call__(self, stats: TokenStats, actions: Sequence[str]) -> BonusOutput:
        """Causal-weighted entropy of each action, with weight statistics for the metrics."""
        weights = self.weights(stats.token_ids, stats.mask, actions)
        entropy = causal_entropy(stats.entropies, weights, stats.mask, self.reduction)
        metrics = {f"weights/{key}": value for key, value in weight_statistics(weights, stats.mask).items()}
        metrics["entropy"] = float(entropy.detach().mean()) if entropy.numel() else 0.0
        return BonusOutput(entropy, weights, metrics)


def _no_bonus(config: RunConfig, causal_model, tokenizer) -> EntropyBonus:
    return NoEntropyBonus()


def _uniform_bonus(config: RunConfig, causal_model, tokenizer) -> EntropyBonus:
    return UniformEntropyBonus(config.entropy_coeff, config.causal.entropy_reduction)


def _causal_bonus(config: RunConfig, causal_model, tokenizer) -> EntropyBonus:
    return CausalEntropyBonus(config.entropy_coeff, config.causal.entropy_reduction, config.causal.estimator,
                              causal_model, tokenizer, grammar=build_grammar(config.env))


ENTROPY_BONUSES = {  # (use_entropy, use_causal) -> builder: DigiRL, naive entropy, CoSo
    (False, False): _no_bonus,
    (True, False): _uniform_bonus,
    (True, True): _causal_bonus,
}


def build_entropy_bonus(config: RunConfig, models_getter: Callable[[], Any], tokenizer) -> EntropyBonus:
    """The bonus chosen by the reference's flags use_entropy / use_causal (a null bonus for DigiRL)."""
    key = (bool(config.use_entropy), bool(config.use_causal))
    if key not in ENTROPY_BONUSES:
        raise ConfigError("use_causal=true needs use_entropy=true: the causal weights weigh the entropy bonus "
                          "(CoSo: both true; naive entropy: use_causal=false; DigiRL: both false)")
    return ENTROPY_BONUSES[key](config, lambda: models_getter().causal, tokenizer)
