"""CoSo as pure functions: counterfactual token weights, causal-weighted entropy and the soft actor loss.

A token's causal weight says how much the executed action depends on it. The reference estimator nullifies a
window of tokens starting at each position and measures how much a small classifier's probability of the
observed action type moves; the entropy bonus of soft RL is then weighted by these weights, so exploration is
spent on the tokens that decide the action (type, coordinates, typed text) rather than on formatting.

Every weight function returns float32 weights [B, L] aligned with its input tokens: padding, special and
punctuation tokens (``zero_mask``) and unparseable rows (``valid`` False) get 0, and nothing is ever NaN.
The weights are constants for the loss: they are computed without gradient.
"""

from __future__ import annotations

import math
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from coso.actions import Action, ActionType, ParsedAction, parse_action
from coso.errors import ConfigError, TrainingError

# (ids [N, L], attention mask [N, L]) -> action-type probabilities [N, C]: the causal model in inference mode.
TypeProbabilitiesFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# The attended token ids of one sequence -> its text (a tokenizer's decode).
DecodeFn = Callable[[list[int]], str]
# (observed action, parse of the perturbed text) -> distance in [0, 1].
ActionDistanceFn = Callable[[Action, ParsedAction], float]

REFERENCE_WINDOW = 4
# content_minmax: per-sequence effect ranges at or below this are "all effects equal" (float32 noise is ~1e-7).
FLAT_TOLERANCE = 1e-6
# The release's guard in its min-max denominator: (e - min) / (max - min + 1e-10).
RELEASE_EPSILON = 1e-10
# Rows per causal-model call that ran fastest for the reference-size model on CPU (bench_causal_weights.py).
CPU_CHUNK_SIZE = 32


# --------------------------------------------------------------------------------------------------------------
# Input checks shared by the estimators


@dataclass(frozen=True)
class _TokenBatch:
    """Validated estimator inputs: bool masks and the positions whose weight is computed (content of valid rows)."""

    token_ids: torch.Tensor  # long [B, L]
    attention: torch.Tensor  # bool [B, L]
    content: torch.Tensor  # bool [B, L]: attended, not zero-masked, in a valid row
    valid: torch.Tensor  # bool [B]


def _prepare_batch(
    token_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    zero_mask: torch.Tensor | None,
    valid: torch.Tensor | None,
    window: int,
) -> _TokenBatch:
    if not isinstance(window, int) or window < 1:
        raise ConfigError(f"the counterfactual window must be an integer >= 1, got {window!r}; the reference uses 4")
    if token_ids.dim() != 2:
        raise ValueError(f"token_ids must be [B, L], got shape {tuple(token_ids.shape)}")
    if attention_mask.shape != token_ids.shape:
        raise ValueError(
            f"attention_mask {tuple(attention_mask.shape)} must match token_ids {tuple(token_ids.shape)}"
        )
    batch_size = token_ids.shape[0]
    zero = torch.zeros_like(token_ids, dtype=torch.bool) if zero_mask is None else zero_mask.bool()
    if zero.shape != token_ids.shape:
        raise ValueError(f"zero_mask {tuple(zero.shape)} must match token_ids {tuple(token_ids.shape)}")
    rows_valid = torch.ones(batch_size, dtype=torch.bool, device=token_ids.device) if valid is None else valid.bool()
    rows_valid = rows_valid.reshape(-1)
    if rows_valid.numel() != batch_size:
        raise ValueError(f"valid must hold one flag per row ({batch_size}), got {rows_valid.numel()}")
    attention = attention_mask.bool()
    content = attention & ~zero & rows_valid[:, None]
    return _TokenBatch(token_ids=token_ids.long(), attention=attention, content=content, valid=rows_valid)


def _perturbed_rows(
    token_ids: torch.Tensor,
    attention: torch.Tensor,
    row_sequence: torch.Tensor,
    row_start: torch.Tensor,
    window: int,
    null_token_id: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Copies of sequences ``row_sequence`` with attended tokens start..start+window-1 set to the null token."""
    columns = torch.arange(token_ids.shape[1], device=token_ids.device)[None, :]
    starts = row_start[:, None]
    masks = attention[row_sequence]
    in_window = (columns >= starts) & (columns < starts + window) & masks
    ids = torch.where(in_window, torch.full_like(token_ids[row_sequence], null_token_id), token_ids[row_sequence])
    return ids, masks


def _content_minmax(effects: torch.Tensor, content: torch.Tensor, sqrt: bool, flat_tolerance: float) -> torch.Tensor:
    """Min-max over each row's content tokens (a flat row gets 1), optional sqrt; float64, 0 off the content."""
    high = torch.where(content, effects, torch.full_like(effects, -math.inf)).max(dim=-1, keepdim=True).values
    low = torch.where(content, effects, torch.full_like(effects, math.inf)).min(dim=-1, keepdim=True).values
    has_content = content.any(dim=-1, keepdim=True)
    low = torch.where(has_content, low, torch.zeros_like(low))
    span = torch.where(has_content, high - low, torch.zeros_like(high))
    flat = span <= flat_tolerance
    scaled = (effects - low) / torch.where(flat, torch.ones_like(span), span)
    scaled = torch.where(flat, torch.ones_like(scaled), scaled.clamp(0.0, 1.0))
    weights = scaled.sqrt() if sqrt else scaled
    return torch.where(content, weights, torch.zeros_like(weights))


def _release_minmax(effects: torch.Tensor, content: torch.Tensor, sqrt: bool, flat_tolerance: float) -> torch.Tensor:
    """CoSo's release: (e - min) / (max - min + 1e-10) over the whole row (non-content effects 0), optional sqrt."""
    row = torch.where(content, effects, torch.zeros_like(effects))
    low = row.min(dim=-1, keepdim=True).values
    high = row.max(dim=-1, keepdim=True).values
    scaled = (row - low) / (high - low + RELEASE_EPSILON)
    weights = scaled.sqrt() if sqrt else scaled
    return torch.where(content, weights, torch.zeros_like(weights))  # a no-op while effects are >= 0


# How per-position effects become weights: the name a caller passes as ``normalisation``.
EFFECT_NORMALISATIONS: dict[str, Callable[[torch.Tensor, torch.Tensor, bool, float], torch.Tensor]] = {
    "release": _release_minmax,  # CoSo's released code, exactly
    "content_minmax": _content_minmax,  # min-max over content tokens only, flat rows get 1
}


def _check_normalisation(normalisation: str) -> None:
    if normalisation not in EFFECT_NORMALISATIONS:
        raise ConfigError(
            f"unknown effect normalisation {normalisation!r}; choose one of {sorted(EFFECT_NORMALISATIONS)} "
            "('release' is CoSo's code)"
        )


def normalise_effects(
    effects: torch.Tensor,
    content: torch.Tensor,
    *,
    normalisation: str = "release",
    sqrt: bool = True,
    flat_tolerance: float = FLAT_TOLERANCE,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Per-row normalisation of effects [B, L] into weights (0 off the content), computed in float64.

    ``release`` (CoSo's code): effects outside the content count as 0, then (e - min) / (max - min + 1e-10) over
    the whole row and a square root; a row holding any non-content position (EOS, padding) gives sqrt(e / (max +
    1e-10)), an all-zero row gives 0. ``content_minmax``: min-max over the content tokens only; a row whose
    effects are all equal (range <= flat_tolerance, e.g. a single content token) gets 1 on every content token.
    """
    _check_normalisation(normalisation)
    effects = effects.double()
    content = content.bool()
    if effects.numel() == 0:
        return torch.zeros(effects.shape, dtype=dtype, device=effects.device)
    return EFFECT_NORMALISATIONS[normalisation](effects, content, sqrt, flat_tolerance).to(dtype)


def _target_probabilities(probs: torch.Tensor, targets: torch.Tensor, rows: int) -> torch.Tensor:
    """probs[n, targets[n]] after checking the causal model's output."""
    if probs.dim() != 2 or probs.shape[0] != rows:
        raise ValueError(f"type_probabilities_fn must return [N={rows}, classes], got {tuple(probs.shape)}")
    if rows and int(targets.max()) >= probs.shape[1]:
        raise ValueError(f"a target type {int(targets.max())} is out of range for {probs.shape[1]} classes")
    if not bool(torch.isfinite(probs).all()):
        raise TrainingError("the causal model returned non-finite type probabilities: check its weights and inputs")
    return probs.double().gather(1, targets[:, None]).squeeze(1)


def _check_targets(target_types: torch.Tensor, batch: _TokenBatch) -> torch.Tensor:
    targets = target_types.reshape(-1).long()
    if targets.numel() != batch.valid.numel():
        raise ValueError(f"target_types must hold one type per row ({batch.valid.numel()}), got {targets.numel()}")
    if bool((targets[batch.valid] < 0).any()):
        raise ValueError("target_types of valid rows must be action-type indices >= 0; mark unparseable rows invalid")
    return targets


# --------------------------------------------------------------------------------------------------------------
# The model-based estimator: vectorised, and the per-position loop it is checked against


@dataclass(frozen=True)
class _DistinctRows:
    """The distinct model inputs among the perturbed rows, and which distinct row each perturbed row is."""

    ids: torch.Tensor  # long [U, W]
    mask: torch.Tensor  # long [U, W]
    widths: torch.Tensor  # long [U]: last attended column + 1, the columns a call for this row needs
    inverse: torch.Tensor  # long [N]: index into the distinct rows of every perturbed row


def _distinct_rows(ids: torch.Tensor, mask: torch.Tensor) -> _DistinctRows:
    """Deduplicate identical (ids, mask) rows: a repeated action and its perturbations are evaluated once."""
    width = ids.shape[1]
    keys, inverse = torch.unique(torch.cat([ids, mask.long()], dim=1), dim=0, return_inverse=True)
    distinct_mask = keys[:, width:]
    columns = torch.arange(1, width + 1, device=ids.device)[None, :]
    widths = (distinct_mask * columns).amax(dim=1)
    return _DistinctRows(ids=keys[:, :width], mask=distinct_mask, widths=widths, inverse=inverse)


def _checked_probabilities(probs: torch.Tensor, rows: int, classes: int | None) -> torch.Tensor:
    """The causal model's output [rows, classes] as float64, after checking its shape and finiteness."""
    if probs.dim() != 2 or probs.shape[0] != rows or (classes is not None and probs.shape[1] != classes):
        expected = "classes" if classes is None else str(classes)
        raise ValueError(f"type_probabilities_fn must return [N={rows}, {expected}], got {tuple(probs.shape)}")
    if not bool(torch.isfinite(probs).all()):
        raise TrainingError("the causal model returned non-finite type probabilities: check its weights and inputs")
    return probs.double()


def _distinct_row_probabilities(
    rows: _DistinctRows, type_probabilities_fn: TypeProbabilitiesFn, chunk_size: int | None
) -> torch.Tensor:
    """Type probabilities [U, C] of every distinct row: rows sorted by width, each call trimmed to its widest row."""
    count = rows.widths.numel()
    order = torch.argsort(rows.widths, stable=True)
    sorted_widths = rows.widths[order].tolist()
    step = count if chunk_size is None else chunk_size
    chunks: list[tuple[torch.Tensor, torch.Tensor]] = []
    classes: int | None = None
    for begin in range(0, count, step):
        chunk = order[begin : begin + step]
        width = sorted_widths[min(begin + step, count) - 1]  # sorted: the chunk's last row is its widest
        probs = _checked_probabilities(
            type_probabilities_fn(rows.ids[chunk, :width], rows.mask[chunk, :width]), chunk.numel(), classes
        )
        classes = probs.shape[1]
        chunks.append((chunk, probs))
    result = torch.empty(count, chunks[0][1].shape[1], dtype=torch.float64, device=rows.ids.device)
    for chunk, probs in chunks:
        result[chunk] = probs
    return result


@torch.no_grad()
def counterfactual_token_weights(
    token_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    target_types: torch.Tensor,
    type_probabilities_fn: TypeProbabilitiesFn,
    *,
    null_token_id: int,
    window: int = REFERENCE_WINDOW,
    zero_mask: torch.Tensor | None = None,
    sqrt: bool = True,
    valid: torch.Tensor | None = None,
    chunk_size: int | None = None,
    flat_tolerance: float = FLAT_TOLERANCE,
    normalisation: str = "release",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Causal weights [B, L]: |P(type | y) - P(type | y with a window nullified)| per start position, normalised.

    ``normalisation`` (EFFECT_NORMALISATIONS, see normalise_effects) is "release" (CoSo's code) by default and is
    taken over the whole row of length L as given. Only the model inputs whose effect reaches the output are
    evaluated: the original and one perturbed copy per content token of each valid row (zero-masked and padded
    positions and invalid rows are never sent to the model; under "content_minmax" neither are single-content
    rows, whose weight is 1 whatever its effect), and identical inputs (repeated actions) once. They go through
    ``type_probabilities_fn`` in one call, or, with ``chunk_size`` (CPU_CHUNK_SIZE is fast on CPU), sorted by
    length in calls of at most ``chunk_size`` rows, each trimmed to the last attended column of its longest row.
    Trimming padding never changes the result of a model that ignores masked positions; the weights equal
    counterfactual_token_weights_loop's.
    """
    batch = _prepare_batch(token_ids, attention_mask, zero_mask, valid, window)
    _check_normalisation(normalisation)
    if chunk_size is not None and chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1 rows or None (one call), got {chunk_size}")
    targets = _check_targets(target_types, batch)
    batch_size, length = batch.token_ids.shape
    device = batch.token_ids.device
    effects = torch.zeros(batch_size, length, dtype=torch.float64, device=device)
    attended_columns = batch.attention.any(dim=0).nonzero()
    if attended_columns.numel() == 0:
        return torch.zeros(batch_size, length, dtype=dtype, device=device)
    width = int(attended_columns.max()) + 1
    ids, attention, content = batch.token_ids[:, :width], batch.attention[:, :width], batch.content[:, :width]
    evaluated = content
    if normalisation == "content_minmax":  # a single content token is flat (weight 1) whatever its effect
        evaluated = content & (content.sum(dim=-1, keepdim=True) >= 2)
    if bool(evaluated.any()):
        effects[:, :width] = _window_effects(
            ids, attention, evaluated, targets, type_probabilities_fn, window, null_token_id, chunk_size
        )
    return normalise_effects(effects, batch.content, normalisation=normalisation, sqrt=sqrt,
                             flat_tolerance=flat_tolerance, dtype=dtype)


def _window_effects(
    ids: torch.Tensor,
    attention: torch.Tensor,
    evaluated: torch.Tensor,
    targets: torch.Tensor,
    type_probabilities_fn: TypeProbabilitiesFn,
    window: int,
    null_token_id: int,
    chunk_size: int | None,
) -> torch.Tensor:
    """|P(type | y) - P(type | y with the window at i nullified)| [B, W] at the ``evaluated`` positions, else 0."""
    batch_size, width = ids.shape
    rows_with_content = evaluated.any(dim=-1).nonzero().squeeze(1)
    position_rows, position_columns = evaluated.nonzero(as_tuple=True)
    row_sequence = torch.cat([rows_with_content, position_rows])
    row_start = torch.cat([torch.full_like(rows_with_content, width), position_columns])  # width = no window
    perturbed_ids, perturbed_mask = _perturbed_rows(ids, attention, row_sequence, row_start, window, null_token_id)
    distinct = _distinct_rows(perturbed_ids, perturbed_mask)
    probs = _distinct_row_probabilities(distinct, type_probabilities_fn, chunk_size)
    row_targets = targets[row_sequence]
    if int(row_targets.max()) >= probs.shape[1]:
        raise ValueError(f"a target type {int(row_targets.max())} is out of range for {probs.shape[1]} classes")
    row_probs = probs[distinct.inverse].gather(1, row_targets[:, None]).squeeze(1)

    originals = torch.zeros(batch_size, dtype=torch.float64, device=ids.device)
    originals[rows_with_content] = row_probs[: rows_with_content.numel()]
    effects = torch.zeros(batch_size, width, dtype=torch.float64, device=ids.device)
    effects[position_rows, position_columns] = (originals[position_rows] - row_probs[rows_with_content.numel():]).abs()
    return effects


@torch.no_grad()
def counterfactual_token_weights_loop(
    token_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    target_types: torch.Tensor,
    type_probabilities_fn: TypeProbabilitiesFn,
    *,
    null_token_id: int,
    window: int = REFERENCE_WINDOW,
    zero_mask: torch.Tensor | None = None,
    sqrt: bool = True,
    valid: torch.Tensor | None = None,
    flat_tolerance: float = FLAT_TOLERANCE,
    normalisation: str = "release",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The same weights by the literal algorithm, one sequence and one position per model call (the reference)."""
    batch = _prepare_batch(token_ids, attention_mask, zero_mask, valid, window)
    _check_normalisation(normalisation)
    targets = _check_targets(target_types, batch)
    batch_size, length = batch.token_ids.shape
    effects = torch.zeros(batch_size, length, dtype=torch.float64, device=batch.token_ids.device)
    for row in range(batch_size):
        if not bool(batch.content[row].any()):
            continue
        sequence = batch.token_ids[row : row + 1]
        sequence_mask = batch.attention[row : row + 1].long()
        target = targets[row : row + 1]
        original = _target_probabilities(type_probabilities_fn(sequence, sequence_mask), target, 1)[0]
        for position in range(length):
            if not bool(batch.content[row, position]):
                continue
            perturbed = sequence.clone()
            for column in range(position, min(position + window, length)):
                if bool(batch.attention[row, column]):
                    perturbed[0, column] = null_token_id
            changed = _target_probabilities(type_probabilities_fn(perturbed, sequence_mask), target, 1)[0]
            effects[row, position] = (original - changed).abs()
    return normalise_effects(effects, batch.content, normalisation=normalisation, sqrt=sqrt,
                             flat_tolerance=flat_tolerance, dtype=dtype)


# --------------------------------------------------------------------------------------------------------------
# The exact estimator: decode each perturbed sequence and run the real parser


def normalised_edit_distance(first: str, second: str) -> float:
    """Levenshtein distance divided by the longer length (0 for two empty strings), in [0, 1]."""
    if first == second:
        return 0.0
    previous = list(range(len(second) + 1))
    for i, first_char in enumerate(first, start=1):
        current = [i]
        for j, second_char in enumerate(second, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (first_char != second_char)))
        previous = current
    return previous[-1] / max(len(first), len(second))


def _dual_point_distance(observed: Action, candidate: Action) -> float:
    """The larger displacement of the touch and lift points, divided by the unit square's diagonal."""
    assert observed.touch_point and observed.lift_point and candidate.touch_point and candidate.lift_point
    touch = math.dist(observed.touch_point, candidate.touch_point)
    lift = math.dist(observed.lift_point, candidate.lift_point)
    return min(1.0, max(touch, lift) / math.sqrt(2.0))


def _typed_text_distance(observed: Action, candidate: Action) -> float:
    return normalised_edit_distance(observed.typed_text, candidate.typed_text)


def _no_argument_distance(observed: Action, candidate: Action) -> float:
    return 0.0


_SAME_TYPE_DISTANCES: dict[ActionType, Callable[[Action, Action], float]] = {
    ActionType.DualPoint: _dual_point_distance,
    ActionType.Type: _typed_text_distance,
}


def parsed_action_distance(observed: Action, candidate: ParsedAction) -> float:
    """Distance in [0, 1]: 1 if the candidate does not parse or changes type, else its argument distance."""
    if candidate.action is None or candidate.action.type != observed.type:
        return 1.0
    return _SAME_TYPE_DISTANCES.get(observed.type, _no_argument_distance)(observed, candidate.action)


@torch.no_grad()
def exact_parser_token_weights(
    token_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    decode_fn: DecodeFn,
    *,
    null_token_id: int,
    window: int = REFERENCE_WINDOW,
    zero_mask: torch.Tensor | None = None,
    sqrt: bool = True,
    valid: torch.Tensor | None = None,
    distance_fn: ActionDistanceFn = parsed_action_distance,
    flat_tolerance: float = FLAT_TOLERANCE,
    normalisation: str = "release",
) -> torch.Tensor:
    """Causal weights [B, L] from the real parser: distance(parse(y), parse(y with a window nullified)), normalised.

    No learned model: it measures the effect on the whole executed action, not only its type (slow, exact).
    A row whose own text does not parse is treated as invalid (zeros). Normalised like the reference estimator.
    """
    batch = _prepare_batch(token_ids, attention_mask, zero_mask, valid, window)
    _check_normalisation(normalisation)
    batch_size, length = batch.token_ids.shape
    decoded_cache: dict[tuple[int, ...], ParsedAction] = {}

    def parse_ids(ids: torch.Tensor, mask: torch.Tensor) -> ParsedAction:
        key = tuple(ids[mask].tolist())
        if key not in decoded_cache:
            decoded_cache[key] = parse_action(decode_fn(list(key)))
        return decoded_cache[key]

    content = batch.content.clone()
    effects = torch.zeros(batch_size, length, dtype=torch.float64, device=batch.token_ids.device)
    for row in range(batch_size):
        positions = content[row].nonzero().squeeze(1)
        if positions.numel() == 0:
            continue
        observed = parse_ids(batch.token_ids[row], batch.attention[row]).action
        if observed is None:
            content[row] = False
            continue
        rows = torch.full_like(positions, row)
        perturbed, masks = _perturbed_rows(batch.token_ids, batch.attention, rows, positions, window, null_token_id)
        for index, position in enumerate(positions.tolist()):
            effects[row, position] = distance_fn(observed, parse_ids(perturbed[index], masks[index]))
    return normalise_effects(effects, content, normalisation=normalisation, sqrt=sqrt, flat_tolerance=flat_tolerance)


# --------------------------------------------------------------------------------------------------------------
# Helpers for the masks and the naive baseline


def _is_punctuation_or_space(text: str) -> bool:
    return all(char.isspace() or char in string.punctuation or unicodedata.category(char).startswith("P")
               for char in text)


def special_and_punctuation_mask(token_ids: torch.Tensor, tokenizer: Any) -> torch.Tensor:
    """Bool mask [B, L] of special tokens and tokens that decode to only punctuation/whitespace (weight forced 0)."""
    special_ids = {int(i) for i in getattr(tokenizer, "all_special_ids", [])}
    unique_ids = torch.unique(token_ids).tolist()
    zeroed = {
        token_id
        for token_id in unique_ids
        if token_id in special_ids
        or _is_punctuation_or_space(
            tokenizer.decode([token_id], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        )
    }
    lookup = torch.tensor(sorted(zeroed), dtype=token_ids.dtype, device=token_ids.device)
    return torch.isin(token_ids, lookup)


def uniform_weights(mask: torch.Tensor) -> torch.Tensor:
    """Weight 1 on every masked token: the naive entropy bonus (CoSo with use_causal=false)."""
    return mask.float()


# --------------------------------------------------------------------------------------------------------------
# The estimator registry


def _missing_type_probabilities_fn(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    raise ConfigError(
        "this causal-weight estimator needs a causal model: pass type_probabilities_fn to WeightResources, "
        "or choose the 'exact_parser' or 'uniform' estimator"
    )


def _missing_decode_fn(ids: list[int]) -> str:
    raise ConfigError(
        "the 'exact_parser' estimator needs a decoder: pass decode_fn (e.g. tokenizer.decode) to WeightResources"
    )


@dataclass(frozen=True)
class WeightResources:
    """What the estimators may call: the causal model, the tokenizer's decoder, the null token, a memory bound."""

    null_token_id: int
    type_probabilities_fn: TypeProbabilitiesFn = _missing_type_probabilities_fn
    decode_fn: DecodeFn = _missing_decode_fn
    chunk_size: int | None = None


TokenWeightEstimator = Callable[..., torch.Tensor]


def _model_estimator(window: int, sqrt: bool, normalisation: str = "release") -> TokenWeightEstimator:
    def estimate(
        token_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        target_types: torch.Tensor,
        resources: WeightResources,
        *,
        zero_mask: torch.Tensor | None = None,
        valid: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return counterfactual_token_weights(
            token_ids, attention_mask, target_types, resources.type_probabilities_fn,
            null_token_id=resources.null_token_id, window=window, zero_mask=zero_mask, sqrt=sqrt, valid=valid,
            chunk_size=resources.chunk_size, normalisation=normalisation,
        )

    return estimate


def _exact_parser_estimator(
    token_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    target_types: torch.Tensor,
    resources: WeightResources,
    *,
    zero_mask: torch.Tensor | None = None,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    return exact_parser_token_weights(
        token_ids, attention_mask, resources.decode_fn, null_token_id=resources.null_token_id,
        zero_mask=zero_mask, valid=valid,
    )


def _uniform_estimator(
    token_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    target_types: torch.Tensor,
    resources: WeightResources,
    *,
    zero_mask: torch.Tensor | None = None,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    return uniform_weights(attention_mask)


TOKEN_WEIGHT_ESTIMATORS: dict[str, TokenWeightEstimator] = {
    "reference": _model_estimator(window=REFERENCE_WINDOW, sqrt=True),  # CoSo's code, exactly
    # min-max over content tokens only, flat rows 1 (this project's rule before it matched the release)
    "content_minmax": _model_estimator(window=REFERENCE_WINDOW, sqrt=True, normalisation="content_minmax"),
    "window1": _model_estimator(window=1, sqrt=True),  # the paper's one-token intervention
    "no_sqrt": _model_estimator(window=REFERENCE_WINDOW, sqrt=False),  # min-max only
    "exact_parser": _exact_parser_estimator,  # the real parser on decoded text, whole-action distance
    "uniform": _uniform_estimator,  # naive entropy
}


def token_weights(
    estimator: str,
    token_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    target_types: torch.Tensor,
    resources: WeightResources,
    *,
    zero_mask: torch.Tensor | None = None,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Token weights [B, L] by the estimator named in TOKEN_WEIGHT_ESTIMATORS (what a config selects)."""
    if estimator not in TOKEN_WEIGHT_ESTIMATORS:
        raise ConfigError(
            f"unknown causal-weight estimator {estimator!r}; choose one of {sorted(TOKEN_WEIGHT_ESTIMATORS)}"
        )
    return TOKEN_WEIGHT_ESTIMATORS[estimator](
        token_ids, attention_mask, target_types, resources, zero_mask=zero_mask, valid=valid
    )


# --------------------------------------------------------------------------------------------------------------
# Entropy and the soft actor loss


def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Full-vocabulary entropy H_t = -sum_v p log p [B, T] of logits [B, T, V] (masked -inf logits allowed)."""
    return log_probs_entropy(torch.log_softmax(logits.float(), dim=-1))


def log_probs_entropy(log_probs: torch.Tensor) -> torch.Tensor:
    """H_t = -sum_v p log p [B, T] of next-token log-probabilities [B, T, V] (a policy's, copy head included)."""
    probs = log_probs.exp()
    safe_log_probs = torch.where(probs > 0, log_probs, torch.zeros_like(log_probs))
    return -(probs * safe_log_probs).sum(dim=-1)


def _token_mean_entropy(weighted: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """sum_t w_t H_t / sum_t mask_t: the reference's per-token average (EOS counted in the denominator)."""
    return weighted.sum(dim=-1) / mask.sum(dim=-1).clamp(min=1)


def _summed_entropy(weighted: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """sum_t w_t H_t: the paper's H^B."""
    return weighted.sum(dim=-1)


def _release_broadcast_entropy(weighted: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """sum_t w_t H_t times the batch mean of 1 / sum_t mask_t: what the release's [B] / [B, 1] division averages to."""
    reciprocal_lengths = 1.0 / mask.sum(dim=-1).clamp(min=1).to(weighted.dtype)
    return weighted.sum(dim=-1) * reciprocal_lengths.mean()


ENTROPY_REDUCTIONS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "token_mean": _token_mean_entropy,
    "sum": _summed_entropy,
    "release_broadcast": _release_broadcast_entropy,
}


def causal_entropy(
    entropies: torch.Tensor,
    weights: torch.Tensor,
    mask: torch.Tensor,
    reduction: str = "token_mean",
) -> torch.Tensor:
    """Per-sample causal entropy H^B [B] = reduction of w_t H_t over masked tokens (weights are constants)."""
    if reduction not in ENTROPY_REDUCTIONS:
        raise ConfigError(f"unknown entropy reduction {reduction!r}; choose one of {sorted(ENTROPY_REDUCTIONS)}")
    if not (entropies.shape == weights.shape == mask.shape) or entropies.dim() != 2:
        raise ValueError(
            "entropies, weights and mask must all be [B, T] on the same tokenisation, got "
            f"{tuple(entropies.shape)}, {tuple(weights.shape)}, {tuple(mask.shape)}"
        )
    selected = mask.bool()
    weighted = torch.where(selected, entropies * weights.detach().to(entropies.dtype), torch.zeros_like(entropies))
    return ENTROPY_REDUCTIONS[reduction](weighted, selected)


def soft_actor_loss(actor_loss: torch.Tensor, causal_entropy_per_sample: torch.Tensor, alpha: float) -> torch.Tensor:
    """actor_loss - alpha * mean_b H^B_b: the entropy bonus covers every sample, filtered or not (as the reference)."""
    if not (math.isfinite(alpha) and alpha >= 0.0):
        raise ConfigError(f"the entropy coefficient alpha must be finite and >= 0, got {alpha}; CoSo uses 1.0")
    entropy = causal_entropy_per_sample.reshape(-1)
    mean_entropy = entropy.sum() / max(entropy.numel(), 1)
    return actor_loss - alpha * mean_entropy


# --------------------------------------------------------------------------------------------------------------
# Metrics


def weight_statistics(weights: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """Share of masked tokens with weight > 0.8 and < 0.2, their mean, and the per-sequence maxima (mean, min)."""
    if weights.shape != mask.shape or weights.dim() != 2:
        raise ValueError(f"weights {tuple(weights.shape)} and mask {tuple(mask.shape)} must both be [B, L]")
    selected = mask.bool()
    weights = weights.detach().double()
    values = weights[selected]
    count = values.numel()
    rows = selected.any(dim=-1)
    row_max = torch.zeros(0, dtype=torch.float64)
    if bool(rows.any()):
        row_max = torch.where(selected, weights, torch.full_like(weights, -math.inf)).max(dim=-1).values[rows]
    denominator = max(count, 1)
    return {
        "token_count": float(count),
        "share_above_0_8": float((values > 0.8).sum()) / denominator,
        "share_below_0_2": float((values < 0.2).sum()) / denominator,
        "mean": float(values.sum()) / denominator,
        "sequence_max_mean": float(row_max.mean()) if row_max.numel() else 0.0,
        "sequence_max_min": float(row_max.min()) if row_max.numel() else 0.0,
    }
