"""The `reference` token weights equal CoSo's release: hand-derived float64 rows, and a literal whole-row check.

The release zeroes the effects of special and punctuation tokens, then per row computes
(e - min) / (max - min + 1e-10) over the whole row (padding and zeroed positions included) and takes the square
root. The model below gives dyadic probabilities (token values 1/2 and 1/4 over 4 attended tokens), so every
effect is exact and the expected weights are derived here by the same float64 operations: equality is exact.
"""

from __future__ import annotations

import math

import pytest
import torch

from coso.algorithms.coso import (
    RELEASE_EPSILON,
    causal_entropy,
    TOKEN_WEIGHT_ESTIMATORS,
    WeightResources,
    counterfactual_token_weights,
    counterfactual_token_weights_loop,
    normalise_effects,
    token_weights,
)
from coso.errors import ConfigError

PAD, EOS, NULL, PUNCT, ZERO_VALUE, QUARTER, HALF = 0, 1, 3, 4, 5, 6, 9
_VALUE = torch.zeros(16, dtype=torch.float64)
_VALUE[HALF], _VALUE[QUARTER] = 0.5, 0.25


def dyadic_model(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """P(type 1) = mean value of the attended tokens: exact in float64 for these values and 4 attended tokens."""
    probability = (_VALUE[ids] * mask).sum(1) / mask.sum(1).clamp(min=1)
    return torch.stack([1 - probability, probability], dim=1)


def _release_weight(effect: float, low: float, high: float) -> float:
    """The release's rule for one position, in float64: sqrt((e - min) / (max - min + 1e-10))."""
    return math.sqrt((effect - low) / (high - low + 1e-10))


def _weights(rows: list[list[int]], *, window: int = 1, normalisation: str = "release",
             valid: list[bool] | None = None) -> torch.Tensor:
    """Weights of right-padded rows; EOS, PAD and PUNCT are the zero-masked (special / punctuation) tokens."""
    ids = torch.tensor(rows)
    mask = (ids != PAD).long()
    zero = torch.isin(ids, torch.tensor([PAD, EOS, PUNCT]))
    targets = torch.ones(len(rows), dtype=torch.long)
    flags = None if valid is None else torch.tensor(valid)
    return counterfactual_token_weights(ids, mask, targets, dyadic_model, null_token_id=NULL, window=window,
                                        zero_mask=zero, valid=flags, normalisation=normalisation,
                                        dtype=torch.float64)


def test_release_constant_is_the_released_guard() -> None:
    assert RELEASE_EPSILON == 1e-10


def test_general_row_is_sqrt_of_effect_over_max() -> None:
    # p = (0.5 + 0.25 + 0.25) / 4 = 0.25; nulling HALF leaves 0.125, nulling a QUARTER 0.1875
    weights = _weights([[HALF, QUARTER, QUARTER, EOS]])
    high = 0.125
    expected = [_release_weight(0.125, 0.0, high), _release_weight(0.0625, 0.0, high),
                _release_weight(0.0625, 0.0, high), 0.0]
    assert weights.tolist() == [expected]
    assert weights[0, 0] < 1.0  # the guard keeps the maximum a hair below 1, as in the release
    # today's former rule stretched the smallest content effect to 0
    assert _weights([[HALF, QUARTER, QUARTER, EOS]], normalisation="content_minmax").tolist() == [[1.0, 0.0, 0.0, 0.0]]


def test_window_of_four_hand_derived() -> None:
    # windows null [0..3], [1..3], [2..3]: p' = 0, 0.125, 0.1875 against p = 0.1875 (EOS is nulled too, value 0)
    weights = _weights([[HALF, QUARTER, ZERO_VALUE, EOS]], window=4)
    expected = [_release_weight(0.1875, 0.0, 0.1875), _release_weight(0.0625, 0.0, 0.1875), 0.0, 0.0]
    assert weights.tolist() == [expected]


def test_flat_row_is_not_forced_to_one() -> None:
    weights = _weights([[HALF, HALF, PUNCT, EOS]])  # both content effects 0.125
    flat = _release_weight(0.125, 0.0, 0.125)
    assert weights.tolist() == [[flat, flat, 0.0, 0.0]] and flat != 1.0
    assert _weights([[HALF, HALF, PUNCT, EOS]], normalisation="content_minmax").tolist() == [[1.0, 1.0, 0.0, 0.0]]


def test_all_zero_row_gets_zero() -> None:
    # a saturated causal model: no content token moves the probability, 0 / (0 - 0 + 1e-10) = 0
    assert _weights([[ZERO_VALUE, ZERO_VALUE, ZERO_VALUE, EOS]]).tolist() == [[0.0, 0.0, 0.0, 0.0]]
    assert _weights([[ZERO_VALUE, ZERO_VALUE, ZERO_VALUE, EOS]],
                    normalisation="content_minmax").tolist() == [[1.0, 1.0, 1.0, 0.0]]


def test_single_content_rows_follow_their_effect() -> None:
    weights = _weights([[HALF, PUNCT, PUNCT, EOS], [ZERO_VALUE, PUNCT, PUNCT, EOS]])
    assert weights.tolist() == [[_release_weight(0.125, 0.0, 0.125), 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    content_minmax = _weights([[HALF, PUNCT, PUNCT, EOS], [ZERO_VALUE, PUNCT, PUNCT, EOS]],
                              normalisation="content_minmax")
    assert content_minmax.tolist() == [[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]


def test_row_without_any_zero_position_uses_its_own_minimum() -> None:
    # a truncated action (no EOS, no padding): p = 0.3125, effects [0.125, 0.0625, 0.0625, 0.0625], min 0.0625
    weights = _weights([[HALF, QUARTER, QUARTER, QUARTER]])
    assert weights.tolist() == [[_release_weight(0.125, 0.0625, 0.125), 0.0, 0.0, 0.0]]
    # the same row padded in a wider batch: the padding's 0 becomes the minimum (the release pads its batch too)
    batch = _weights([[HALF, QUARTER, QUARTER, QUARTER, PAD], [HALF, QUARTER, QUARTER, QUARTER, EOS]])
    row = [_release_weight(effect, 0.0, 0.125) for effect in (0.125, 0.0625, 0.0625, 0.0625)] + [0.0]
    assert batch[0].tolist() == row


def test_all_special_invalid_and_empty_rows_get_zero() -> None:
    weights = _weights([[EOS, PUNCT, PUNCT, EOS], [HALF, QUARTER, QUARTER, EOS], [PAD, PAD, PAD, PAD]],
                       valid=[True, False, True])
    assert not bool(weights.any())
    empty = counterfactual_token_weights(torch.zeros(0, 4, dtype=torch.long), torch.zeros(0, 4), torch.zeros(0),
                                         dyadic_model, null_token_id=NULL, dtype=torch.float64)
    assert empty.shape == (0, 4) and empty.dtype == torch.float64


def test_normalise_effects_hand_derived_rows() -> None:
    effects = torch.tensor([[0.3, 0.1, 0.2, 0.7], [0.0, 0.0, 0.0, 0.0], [0.4, 0.4, 0.4, 0.4], [0.2, 0.6, 0.0, 0.0]],
                           dtype=torch.float64)
    content = torch.tensor([[True, True, True, False], [True, True, False, False], [True, True, True, True],
                            [True, True, False, False]])
    weights = normalise_effects(effects, content, dtype=torch.float64)
    # row 0: the non-content 0.7 counts as 0 (zeroed before the min-max); row 2: flat with no zero position
    assert weights.tolist() == [
        [_release_weight(0.3, 0.0, 0.3), _release_weight(0.1, 0.0, 0.3), _release_weight(0.2, 0.0, 0.3), 0.0],
        [0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
        [_release_weight(0.2, 0.0, 0.6), _release_weight(0.6, 0.0, 0.6), 0.0, 0.0],
    ]
    squared = normalise_effects(effects, content, sqrt=False, dtype=torch.float64)
    assert squared[3].tolist() == [0.2 / (0.6 + 1e-10), 0.6 / (0.6 + 1e-10), 0.0, 0.0]
    with pytest.raises(ConfigError, match="normalisation"):
        normalise_effects(effects, content, normalisation="zscore")


def _literal_release_weights(ids: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor, model, zero: torch.Tensor,
                             window: int) -> torch.Tensor:
    """Written from the release's description: every position of the padded row, the window clamped at its end."""
    batch_size, length = ids.shape
    original = model(ids, mask).gather(1, targets[:, None]).squeeze(1)
    effects = torch.zeros(batch_size, length, dtype=torch.float64)
    for position in range(length):
        perturbed = ids.clone()
        for offset in range(window):
            perturbed[:, min(position + offset, length - 1)] = NULL
        changed = model(perturbed, mask).gather(1, targets[:, None]).squeeze(1)
        effects[:, position] = (original - changed).abs()
    effects[zero] = 0.0
    low = effects.min(dim=1, keepdim=True).values
    high = effects.max(dim=1, keepdim=True).values
    return ((effects - low) / (high - low + 1e-10)).sqrt()


class _PooledClassifier(torch.nn.Module):
    """A float64 classifier that reads every attended token (positional, so the window's place matters)."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embed = torch.nn.Embedding(16, 8)
        self.position = torch.nn.Embedding(32, 8)
        self.head = torch.nn.Linear(8, 8)
        self.double().eval()

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        states = torch.tanh(self.embed(ids) + self.position(torch.arange(ids.shape[1]))[None])
        weights = mask[..., None].to(states.dtype)
        return self.head((states * weights).sum(1)).softmax(-1)


@pytest.mark.parametrize("window", [1, 2, 4])
def test_reference_equals_a_literal_release_on_random_batches(window: int) -> None:
    generator = torch.Generator().manual_seed(window)
    model = _PooledClassifier(seed=window)
    for _ in range(10):
        batch_size, length = int(torch.randint(1, 6, (1,), generator=generator)), int(
            torch.randint(2, 12, (1,), generator=generator))
        ids = torch.randint(4, 16, (batch_size, length), generator=generator)
        lengths = torch.randint(1, length + 1, (batch_size,), generator=generator)
        columns = torch.arange(length)[None, :]
        ids = torch.where(columns == (lengths[:, None] - 1), torch.full_like(ids, EOS), ids)
        ids = torch.where(columns >= lengths[:, None], torch.full_like(ids, PAD), ids)
        mask = (ids != PAD).long()
        zero = torch.isin(ids, torch.tensor([PAD, EOS, PUNCT]))
        targets = torch.randint(0, 8, (batch_size,), generator=generator)
        with torch.no_grad():
            expected = _literal_release_weights(ids, mask, targets, model, zero, window)
        ours = counterfactual_token_weights(ids, mask, targets, model, null_token_id=NULL, window=window,
                                            zero_mask=zero, dtype=torch.float64)
        loop = counterfactual_token_weights_loop(ids, mask, targets, model, null_token_id=NULL, window=window,
                                                 zero_mask=zero, dtype=torch.float64)
        assert float((ours - expected).abs().max()) <= 1e-12
        assert float((loop - expected).abs().max()) <= 1e-12


def test_registry_names_the_release_and_the_content_rule() -> None:
    assert {"reference", "content_minmax"} <= set(TOKEN_WEIGHT_ESTIMATORS)
    ids = torch.tensor([[HALF, QUARTER, QUARTER, EOS]])
    mask = torch.ones_like(ids)
    zero = ids == EOS
    resources = WeightResources(null_token_id=NULL, type_probabilities_fn=dyadic_model)
    reference = token_weights("reference", ids, mask, torch.tensor([1]), resources, zero_mask=zero)
    # window 4: nulling [0..3], [1..3], [2..3] leaves p' = 0, 0.125, 0.1875 against p = 0.25
    expected = torch.tensor([[_release_weight(e, 0.0, 0.25) for e in (0.25, 0.125, 0.0625)] + [0.0]])
    assert torch.equal(reference, expected.float())
    content = token_weights("content_minmax", ids, mask, torch.tensor([1]), resources, zero_mask=zero)
    assert torch.equal(content, torch.tensor([[1.0, math.sqrt(0.0625 / 0.1875), 0.0, 0.0]]))


def test_release_broadcast_reduction_equals_the_release_batch_mean() -> None:
    entropies = torch.tensor([[1.0, 2.0, 4.0, 8.0], [0.5, 0.25, 0.0, 0.0]], dtype=torch.float64)
    weights = torch.tensor([[1.0, 0.5, 0.25, 0.0], [1.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    sums = torch.tensor([3.0, 0.75], dtype=torch.float64)  # sum_t w_t H_t per row
    lengths = torch.tensor([[4.0], [2.0]], dtype=torch.float64)
    release_batch_term = (sums / lengths).mean()  # the release divides [B] by [B, 1]: a [B, B] matrix, then .mean()
    ours = causal_entropy(entropies, weights, mask, reduction="release_broadcast")
    assert float(ours.mean()) == float(release_batch_term) == (3.0 + 0.75) / 2 * (1 / 4 + 1 / 2) / 2
    token_mean = causal_entropy(entropies, weights, mask)  # the per-row token mean the release intended
    assert token_mean.tolist() == [3.0 / 4, 0.75 / 2]
