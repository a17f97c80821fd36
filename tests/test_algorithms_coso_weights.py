"""CoSo's counterfactual token weights: hand-computed cases, loop/vectorised equivalence, edge cases, estimators."""

from __future__ import annotations

import math

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from coso.algorithms.coso import (
    CPU_CHUNK_SIZE,
    TOKEN_WEIGHT_ESTIMATORS,
    WeightResources,
    counterfactual_token_weights,
    counterfactual_token_weights_loop,
    exact_parser_token_weights,
    normalise_effects,
    normalised_edit_distance,
    parsed_action_distance,
    special_and_punctuation_mask,
    token_weights,
    weight_statistics,
)
from coso.actions import Action, ActionType, format_action, parse_action
from coso.errors import ConfigError, TrainingError

NULL_ID = 0


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny models on one thread: two threads on the shared 2-core machine made these tests ~10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class TinyTypeClassifier(torch.nn.Module):
    """A one-layer attention classifier over 8 action types, in float64 so batching cannot move its outputs."""

    def __init__(self, vocab_size: int = 40, hidden: int = 16, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embed = torch.nn.Embedding(vocab_size, hidden)
        self.position = torch.nn.Embedding(128, hidden)
        self.query, self.key, self.value = (torch.nn.Linear(hidden, hidden) for _ in range(3))
        self.head = torch.nn.Linear(hidden, 8)
        self.double().eval()

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        states = self.embed(ids) + self.position(torch.arange(ids.shape[1]))[None]
        scores = self.query(states) @ self.key(states).transpose(1, 2) / 4.0
        scores = scores.masked_fill(~mask.bool()[:, None, :], -1e9)
        states = states + scores.softmax(-1) @ self.value(states)
        weights = mask[..., None].to(states.dtype)
        pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return self.head(pooled).softmax(-1)


# Type 1's probability is the mean "value" of the attended tokens: effects can be computed by hand.
_TOKEN_VALUE = torch.zeros(16, dtype=torch.float64)
_TOKEN_VALUE[7], _TOKEN_VALUE[5] = 0.8, 0.4


def value_model(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    probability = (_TOKEN_VALUE[ids] * mask).sum(1) / mask.sum(1).clamp(min=1)
    return torch.stack([1 - probability, probability], dim=1)


def constant_model(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.full((ids.shape[0], 8), 1 / 8, dtype=torch.float64)


class CountingModel:
    """Wraps a type-probability function and records the batch size of every call."""

    def __init__(self, model) -> None:
        self.model, self.calls = model, []

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.calls.append(ids.shape[0])
        return self.model(ids, mask)


def _one(ids: list[int], mask: list[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    mask = mask if mask is not None else [1] * len(ids)
    return torch.tensor([ids]), torch.tensor([mask])


# ---------------------------------------------------------------------------------------------------------------
# Hand-computed cases


def test_window_one_hand_computed() -> None:
    ids, mask = _one([7, 5, 3, 3])  # p = 1.2 / 4 = 0.3; nullifying each token leaves [0.1, 0.2, 0.3, 0.3]
    weights = counterfactual_token_weights(ids, mask, torch.tensor([1]), value_model, null_token_id=NULL_ID, window=1)
    assert torch.allclose(weights, torch.tensor([[1.0, math.sqrt(0.5), 0.0, 0.0]]))
    plain = counterfactual_token_weights(
        ids, mask, torch.tensor([1]), value_model, null_token_id=NULL_ID, window=1, sqrt=False
    )
    assert torch.allclose(plain, torch.tensor([[1.0, 0.5, 0.0, 0.0]]))
    # the observed type decides the sign-free effect: type 0 has p = 0.7 and the same |differences|
    assert torch.allclose(
        counterfactual_token_weights(ids, mask, torch.tensor([0]), value_model, null_token_id=NULL_ID, window=1),
        weights,
    )


def test_window_two_hand_computed() -> None:
    ids, mask = _one([7, 5, 3, 3])  # windows leave p = [0, 0.2, 0.3, 0.3]: effects [0.3, 0.1, 0, 0]
    weights = counterfactual_token_weights(ids, mask, torch.tensor([1]), value_model, null_token_id=NULL_ID, window=2)
    assert torch.allclose(weights, torch.tensor([[1.0, math.sqrt(1 / 3), 0.0, 0.0]]))


def test_window_is_cut_at_the_end_and_never_touches_padding() -> None:
    ids, mask = _one([3, 3, 7, 5, 9, 9], [1, 1, 1, 1, 0, 0])  # windows of 4 leave p = [0, 0, 0, 0.2]
    weights = counterfactual_token_weights(ids, mask, torch.tensor([1]), value_model, null_token_id=NULL_ID)
    # effects [0.3, 0.3, 0.3, 0.1]; the padding's 0 is the row's minimum (the release's whole-row min-max)
    assert torch.allclose(weights, torch.tensor([[1.0, 1.0, 1.0, math.sqrt(1 / 3), 0.0, 0.0]]))
    content_minmax = counterfactual_token_weights(ids, mask, torch.tensor([1]), value_model, null_token_id=NULL_ID,
                                                  normalisation="content_minmax")
    assert torch.allclose(content_minmax, torch.tensor([[1.0, 1.0, 1.0, 0.0, 0.0, 0.0]]))


def test_zero_mask_tokens_get_zero_and_leave_the_normalisation() -> None:
    ids, mask = _one([7, 5, 3, 3])
    zero = torch.tensor([[False, True, False, False]])
    weights = counterfactual_token_weights(
        ids, mask, torch.tensor([1]), value_model, null_token_id=NULL_ID, window=1, zero_mask=zero
    )
    assert weights.tolist() == [[1.0, 0.0, 0.0, 0.0]]


# ---------------------------------------------------------------------------------------------------------------
# The vectorised estimator against the per-position loop


def _random_batch(generator: torch.Generator, batch_size: int, length: int, padding: str):
    ids = torch.randint(1, 40, (batch_size, length), generator=generator)
    lengths = torch.randint(0, length + 1, (batch_size,), generator=generator)
    columns = torch.arange(length)[None, :]
    masks = {
        "right": columns < lengths[:, None],
        "left": columns >= (length - lengths)[:, None],
        "holes": torch.rand(batch_size, length, generator=generator) < 0.7,
    }
    mask = masks[padding].long()
    zero = torch.rand(batch_size, length, generator=generator) < 0.25
    targets = torch.randint(0, 8, (batch_size,), generator=generator)
    valid = torch.rand(batch_size, generator=generator) < 0.85
    return ids, mask, targets, zero, valid


@pytest.mark.parametrize("window", [1, 2, 4, 7])
def test_vectorised_equals_the_loop_on_random_inputs(window: int) -> None:
    model = TinyTypeClassifier()
    generator = torch.Generator().manual_seed(window)
    for batch_size, length in [(1, 1), (1, 9), (3, 5), (5, 17)]:
        for padding in ("right", "left", "holes"):
            ids, mask, targets, zero, valid = _random_batch(generator, batch_size, length, padding)
            options = dict(null_token_id=NULL_ID, window=window, zero_mask=zero, valid=valid)
            fast = counterfactual_token_weights(ids, mask, targets, model, **options)
            slow = counterfactual_token_weights_loop(ids, mask, targets, model, **options)
            assert fast.shape == slow.shape == (batch_size, length)
            assert float((fast - slow).abs().max()) <= 1e-6, (batch_size, length, padding)
            assert bool(torch.isfinite(fast).all())


def test_one_model_call_without_chunks_and_the_same_weights_in_chunks() -> None:
    model = TinyTypeClassifier()
    ids, mask, targets, zero, valid = _random_batch(torch.Generator().manual_seed(3), 4, 12, "right")
    counting = CountingModel(model)
    whole = counterfactual_token_weights(ids, mask, targets, counting, null_token_id=NULL_ID, zero_mask=zero, valid=valid)
    assert len(counting.calls) == 1
    rows = counting.calls[0]
    for chunk_size in (1, 5, rows, rows + 10):
        counting = CountingModel(model)
        chunked = counterfactual_token_weights(
            ids, mask, targets, counting, null_token_id=NULL_ID, zero_mask=zero, valid=valid, chunk_size=chunk_size
        )
        assert max(counting.calls) <= chunk_size and len(counting.calls) == math.ceil(rows / chunk_size)
        assert float((chunked - whole).abs().max()) <= 1e-6


def test_padding_and_batch_neighbours_do_not_change_a_rows_weights() -> None:
    model = TinyTypeClassifier()
    ids, mask, targets, zero, valid = _random_batch(torch.Generator().manual_seed(5), 4, 10, "right")
    valid = torch.ones(4, dtype=torch.bool)
    base = counterfactual_token_weights(ids, mask, targets, model, null_token_id=NULL_ID, zero_mask=zero, valid=valid)
    pad = torch.full((4, 6), 13)
    padded = counterfactual_token_weights(
        torch.cat([ids, pad], 1), torch.cat([mask, torch.zeros(4, 6, dtype=mask.dtype)], 1), targets, model,
        null_token_id=NULL_ID, zero_mask=torch.cat([zero, torch.zeros(4, 6, dtype=torch.bool)], 1), valid=valid,
    )
    assert torch.equal(padded[:, :10], base) and not bool(padded[:, 10:].any())
    for row in range(4):
        alone = counterfactual_token_weights(
            ids[row : row + 1], mask[row : row + 1], targets[row : row + 1], model,
            null_token_id=NULL_ID, zero_mask=zero[row : row + 1],
        )
        width = alone.shape[1]
        assert float((alone - base[row : row + 1, :width]).abs().max()) <= 1e-6


class RecordingModel:
    """Wraps a type-probability function and keeps every call's (ids, mask)."""

    def __init__(self, model) -> None:
        self.model, self.inputs = model, []

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.inputs.append((ids.clone(), mask.clone()))
        return self.model(ids, mask)


def _with_duplicates(batch, copies: list[tuple[int, int]]):
    """The batch with row ``source`` copied over row ``destination`` (a repeated action), for each pair."""
    ids, mask, targets, zero, valid = (tensor.clone() for tensor in batch)
    for source, destination in copies:
        for tensor in (ids, mask, targets, zero, valid):
            tensor[destination] = tensor[source]
    return ids, mask, targets, zero, valid


def test_skipping_deduplication_and_length_sorting_keep_the_loops_weights() -> None:
    model = TinyTypeClassifier()
    generator = torch.Generator().manual_seed(100)
    for batch_size, length in [(5, 8), (7, 12)]:
        for window in (1, 4):
            for padding in ("right", "left", "holes"):
                batch = _random_batch(generator, batch_size, length, padding)
                ids, mask, targets, zero, valid = _with_duplicates(batch, [(0, batch_size - 1), (1, 2)])
                options = dict(null_token_id=NULL_ID, window=window, zero_mask=zero, valid=valid)
                slow = counterfactual_token_weights_loop(ids, mask, targets, model, **options)
                for chunk_size in (None, 1, 3, 8, CPU_CHUNK_SIZE):
                    fast = counterfactual_token_weights(ids, mask, targets, model, chunk_size=chunk_size, **options)
                    assert float((fast - slow).abs().max()) <= 1e-6, (batch_size, length, window, padding, chunk_size)
                    assert torch.equal(fast[0], fast[batch_size - 1]) and torch.equal(fast[1], fast[2])


def test_the_model_never_sees_rows_whose_weight_is_forced() -> None:
    invalid_poison, single_poison = 39, 38
    ids = torch.tensor([
        [5, 6, 7, 8, 9, 10, 11, 1],  # valid: content at 0, 2, 3, 5, 6 (1, 4, 7 zero-masked)
        [invalid_poison, 6, 7, 8, 9, 10, 11, 1],  # invalid (unparseable)
        [single_poison, 6, 7, 8, 1, 0, 0, 0],  # valid, one content token: weight 1 whatever the model says
        [5, 6, 7, 8, 9, 10, 11, 1],  # a repeat of row 0
        [0, 0, 0, 0, 0, 0, 0, 0],  # all padding
    ])
    mask = torch.tensor([[1] * 8, [1] * 8, [1] * 5 + [0] * 3, [1] * 8, [0] * 8])
    zero = torch.tensor([
        [False, True, False, False, True, False, False, True],
        [False, True, False, False, True, False, False, True],
        [False, True, True, True, True, False, False, False],
        [False, True, False, False, True, False, False, True],
        [False] * 8,
    ])
    valid = torch.tensor([True, False, True, True, True])
    targets = torch.tensor([3, -1, 5, 3, 0])
    recording = RecordingModel(TinyTypeClassifier())
    weights = counterfactual_token_weights(ids, mask, targets, recording, null_token_id=NULL_ID, window=2,
                                           zero_mask=zero, valid=valid, normalisation="content_minmax")
    seen = torch.cat([call_ids for call_ids, _ in recording.inputs])
    assert len(recording.inputs) == 1 and seen.shape == (1 + 5, 8)  # row 0's original and its 5 content windows
    assert not bool(torch.isin(seen, torch.tensor([invalid_poison, single_poison])).any())
    window_starts = sorted(int((row == NULL_ID).nonzero()[0]) for row in seen if bool((row == NULL_ID).any()))
    assert window_starts == [0, 2, 3, 5, 6]
    assert not bool(weights[1].any()) and not bool(weights[4].any())
    assert weights[2].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert torch.equal(weights[0], weights[3]) and float(weights[0].max()) == 1.0
    loop = counterfactual_token_weights_loop(ids, mask, targets, TinyTypeClassifier(), null_token_id=NULL_ID,
                                             window=2, zero_mask=zero, valid=valid, normalisation="content_minmax")
    assert float((weights - loop).abs().max()) <= 1e-6
    # the release's rule: a single content token's weight depends on its effect, so the model sees that row too
    recording = RecordingModel(TinyTypeClassifier())
    weights = counterfactual_token_weights(ids, mask, targets, recording, null_token_id=NULL_ID, window=2,
                                           zero_mask=zero, valid=valid)
    seen = torch.cat([call_ids for call_ids, _ in recording.inputs])
    assert seen.shape == (1 + 5 + 1 + 1, 8) and bool((seen == single_poison).any())
    assert not bool((seen == invalid_poison).any())
    assert not bool(weights[1].any()) and not bool(weights[4].any())
    loop = counterfactual_token_weights_loop(ids, mask, targets, TinyTypeClassifier(), null_token_id=NULL_ID,
                                             window=2, zero_mask=zero, valid=valid)
    assert float((weights - loop).abs().max()) <= 1e-6


def test_chunked_calls_are_sorted_by_length_and_trimmed_to_their_longest_row() -> None:
    model = TinyTypeClassifier()
    ids, mask, targets, zero, valid = _random_batch(torch.Generator().manual_seed(21), 7, 20, "right")
    mask[:, 0] = 1  # every row has content of its own length
    zero[:, 0] = False
    valid[:] = True
    one_call = RecordingModel(model)
    whole = counterfactual_token_weights(ids, mask, targets, one_call, null_token_id=NULL_ID, zero_mask=zero,
                                         valid=valid)
    rows = one_call.inputs[0][0].shape[0]
    chunked = RecordingModel(model)
    weights = counterfactual_token_weights(ids, mask, targets, chunked, null_token_id=NULL_ID, zero_mask=zero,
                                           valid=valid, chunk_size=4)
    widths = [call_mask.shape[1] for _, call_mask in chunked.inputs]
    assert widths == sorted(widths) and len(set(widths)) > 1
    assert all(bool(call_mask[:, -1].any()) for _, call_mask in chunked.inputs)  # no all-padding column sent
    assert sum(call_ids.shape[0] for call_ids, _ in chunked.inputs) == rows
    assert sum(call_ids.numel() for call_ids, _ in chunked.inputs) < rows * one_call.inputs[0][0].shape[1]
    assert float((weights - whole).abs().max()) <= 1e-6


# ---------------------------------------------------------------------------------------------------------------
# Defined outputs for bad input


def test_unparseable_rows_get_zeros_but_keep_their_place() -> None:
    model = TinyTypeClassifier()
    ids, mask, targets, _, _ = _random_batch(torch.Generator().manual_seed(7), 3, 8, "right")
    mask[:] = 1
    targets[1] = -1  # an unparseable action has no type; its target is never read
    valid = torch.tensor([True, False, True])
    weights = counterfactual_token_weights(ids, mask, targets, model, null_token_id=NULL_ID, valid=valid)
    assert weights.shape == (3, 8) and not bool(weights[1].any())
    keep_rows = torch.tensor([0, 2])
    alone = counterfactual_token_weights(ids[keep_rows], mask[keep_rows], targets[keep_rows], model, null_token_id=NULL_ID)
    assert float((weights[keep_rows] - alone).abs().max()) <= 1e-6
    assert torch.allclose(weights[keep_rows].max(dim=1).values, torch.ones(2, dtype=torch.float32))


def test_all_special_rows_and_fully_padded_rows_get_zeros() -> None:
    ids, mask = torch.tensor([[7, 5, 3], [7, 5, 3], [1, 2, 3]]), torch.tensor([[1, 1, 1], [1, 1, 1], [0, 0, 0]])
    zero = torch.tensor([[False, False, False], [True, True, True], [False, False, False]])
    weights = counterfactual_token_weights(ids, mask, torch.tensor([1, 1, 1]), value_model,
                                           null_token_id=NULL_ID, zero_mask=zero)
    assert weights[0].max() == 1.0 and not bool(weights[1:].any())


def test_empty_batches_give_empty_weights() -> None:
    for shape in [(0, 6), (0, 0), (3, 0)]:
        ids = torch.zeros(shape, dtype=torch.long)
        weights = counterfactual_token_weights(ids, ids, torch.zeros(shape[0]), value_model, null_token_id=NULL_ID)
        assert weights.shape == shape and weights.dtype == torch.float32
        assert counterfactual_token_weights_loop(ids, ids, torch.zeros(shape[0]), value_model,
                                                 null_token_id=NULL_ID).shape == shape


def test_content_minmax_gives_flat_rows_weight_one_on_every_content_token() -> None:
    ids = torch.tensor([[4, 4, 4, 9], [7, 1, 1, 1]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])
    zero = torch.tensor([[False, True, False, False], [False, False, False, False]])
    weights = counterfactual_token_weights(ids, mask, torch.tensor([2, 1]), constant_model,
                                           null_token_id=NULL_ID, zero_mask=zero, normalisation="content_minmax")
    assert weights.tolist() == [[1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]]  # row 2: one content token
    content = torch.tensor([[True, True, False]])
    assert normalise_effects(torch.zeros(1, 3), content, normalisation="content_minmax").tolist() == [[1.0, 1.0, 0.0]]
    # the release's rule gives a saturated model's (all-zero) rows no weight at all
    assert not bool(counterfactual_token_weights(ids, mask, torch.tensor([2, 1]), constant_model,
                                                 null_token_id=NULL_ID, zero_mask=zero).any())
    assert normalise_effects(torch.zeros(1, 3), content).tolist() == [[0.0, 0.0, 0.0]]


def test_never_nan_and_never_differentiable() -> None:
    model = TinyTypeClassifier()
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    generator = torch.Generator().manual_seed(11)
    for padding in ("right", "left", "holes"):
        ids, mask, targets, zero, valid = _random_batch(generator, 6, 7, padding)
        weights = counterfactual_token_weights(ids, mask, targets, model, null_token_id=NULL_ID, zero_mask=zero,
                                               valid=valid)
        assert bool(torch.isfinite(weights).all()) and not weights.requires_grad
        assert bool(((weights >= 0) & (weights <= 1)).all())


def test_bad_options_and_bad_model_outputs_are_named() -> None:
    ids, mask = _one([7, 5, 3, 3])
    with pytest.raises(ConfigError, match="window"):
        counterfactual_token_weights(ids, mask, torch.tensor([1]), value_model, null_token_id=NULL_ID, window=0)
    with pytest.raises(ConfigError, match="chunk_size"):
        counterfactual_token_weights(ids, mask, torch.tensor([1]), value_model, null_token_id=NULL_ID, chunk_size=0)
    with pytest.raises(ValueError, match="one type per row"):
        counterfactual_token_weights(ids, mask, torch.tensor([1, 2]), value_model, null_token_id=NULL_ID)
    with pytest.raises(ValueError, match="out of range"):
        counterfactual_token_weights(ids, mask, torch.tensor([5]), value_model, null_token_id=NULL_ID)

    def broken_model(batch_ids: torch.Tensor, batch_mask: torch.Tensor) -> torch.Tensor:
        return torch.full((batch_ids.shape[0], 8), math.nan)

    with pytest.raises(TrainingError, match="non-finite"):
        counterfactual_token_weights(ids, mask, torch.tensor([1]), broken_model, null_token_id=NULL_ID)


# ---------------------------------------------------------------------------------------------------------------
# The exact parser estimator


def _char_ids(text: str) -> torch.Tensor:
    return torch.tensor([[ord(char) for char in text]])


def _char_decode(ids: list[int]) -> str:
    return "".join(chr(i) for i in ids)


def test_action_distance_cases() -> None:
    tap = Action.tap(0.1, 0.2)
    assert parsed_action_distance(tap, parse_action(format_action(tap))) == 0.0
    assert parsed_action_distance(tap, parse_action("garbage")) == 1.0
    assert parsed_action_distance(tap, parse_action(format_action(Action(ActionType.GoBack)))) == 1.0
    moved = parse_action(format_action(Action.tap(0.4, 0.6)))
    assert math.isclose(parsed_action_distance(tap, moved), 0.5 / math.sqrt(2), rel_tol=1e-9)
    typed = Action.type_text("kitten")
    assert math.isclose(parsed_action_distance(typed, parse_action(format_action(Action.type_text("sitting")))),
                        3 / 7)
    assert parsed_action_distance(Action(ActionType.Enter), parse_action(format_action(Action(ActionType.Enter)))) == 0
    assert normalised_edit_distance("", "") == 0.0 and normalised_edit_distance("", "ab") == 1.0


def test_exact_parser_weights_hand_computed_on_a_typed_action() -> None:
    text = format_action(Action.type_text("ab"))
    ids = _char_ids(text)
    weights = exact_parser_token_weights(ids, torch.ones_like(ids), _char_decode, null_token_id=ord("x"),
                                         window=1, sqrt=False)
    typed_start = text.rindex('"ab"') + 1
    type_start = text.index('"TYPE"') + 1
    assert weights[0, typed_start : typed_start + 2].tolist() == [0.5, 0.5]  # "xb", "ax": edit distance 1/2
    assert weights[0, type_start : type_start + 4].tolist() == [1.0] * 4  # "xYPE" ... is no action type
    assert weights[0, : len("Action Plan")].tolist() == [0.0] * len("Action Plan")  # the plan is not executed


def test_exact_parser_weights_on_a_tap_measure_the_point_distance() -> None:
    text = format_action(Action.tap(0.5, 0.5))  # "[0.5000, 0.5000]" (y, x) for both points
    ids = _char_ids(text)
    weights = exact_parser_token_weights(ids, torch.ones_like(ids), _char_decode, null_token_id=ord("0"),
                                         window=1, sqrt=False)
    fives = [index for index, char in enumerate(text) if char == "5"]
    assert len(fives) == 4
    for index in fives:  # one coordinate of one point drops from 0.5 to 0: 0.5 / sqrt(2)
        assert math.isclose(float(weights[0, index]), 0.5 / math.sqrt(2), rel_tol=1e-6)
    assert float(weights[0, text.index('"DUAL_POINT"') + 1]) == 1.0  # "0UAL_POINT" is no action type
    assert float(weights[0, text.index("DUAL_POINT")]) == 0.0  # the plan's copy is not executed


def test_exact_parser_unparseable_row_and_registry_entry() -> None:
    good = _char_ids(format_action(Action(ActionType.GoHome)))
    bad = _char_ids("Action Decision: nothing here".ljust(good.shape[1]))
    ids = torch.cat([good, bad])
    weights = exact_parser_token_weights(ids, torch.ones_like(ids), _char_decode, null_token_id=ord("x"))
    assert weights[0].max() == 1.0 and not bool(weights[1].any())
    resources = WeightResources(null_token_id=ord("x"), decode_fn=_char_decode)
    via_registry = token_weights("exact_parser", ids, torch.ones_like(ids), torch.zeros(2), resources)
    assert torch.equal(via_registry, weights)


# ---------------------------------------------------------------------------------------------------------------
# The registry, the mask helper and the statistics on real tokenised actions


def _tokenizer() -> PreTrainedTokenizerFast:
    actions = [Action.tap(0.1 * i, 0.9 - 0.07 * i) for i in range(10)] + [
        Action.type_text("coffee maker"), Action(ActionType.GoBack), Action(ActionType.TaskComplete)]
    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=["<pad>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    backend.train_from_iterator([format_action(action) for action in actions], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def _encode(tokenizer: PreTrainedTokenizerFast, actions: list[Action]) -> tuple[torch.Tensor, torch.Tensor]:
    encoded = [tokenizer(format_action(action))["input_ids"] + [tokenizer.eos_token_id] for action in actions]
    length = max(len(ids) for ids in encoded)
    ids = torch.tensor([row + [tokenizer.pad_token_id] * (length - len(row)) for row in encoded])
    mask = torch.tensor([[1] * len(row) + [0] * (length - len(row)) for row in encoded])
    return ids, mask


def test_special_and_punctuation_mask_on_a_real_tokenizer() -> None:
    tokenizer = _tokenizer()
    ids, mask = _encode(tokenizer, [Action.tap(0.25, 0.75), Action.type_text("coffee")])
    zero = special_and_punctuation_mask(ids, tokenizer)
    assert zero.shape == ids.shape
    for token_id, zeroed in zip(ids.flatten().tolist(), zero.flatten().tolist()):
        text = tokenizer.decode([token_id])
        if token_id in (tokenizer.pad_token_id, tokenizer.eos_token_id):
            assert zeroed, text
        elif any(char.isalnum() for char in text):
            assert not zeroed, text
        elif text.strip() in ('"', ":", ",", "[", "]", '":', ""):
            assert zeroed, text
    assert bool(zero.any()) and not bool(zero.all())


def test_registry_estimators_on_tokenised_actions() -> None:
    tokenizer = _tokenizer()
    actions = [Action.tap(0.25, 0.75), Action.type_text("coffee"), Action(ActionType.GoBack)]
    ids, mask = _encode(tokenizer, actions)
    targets = torch.tensor([int(action.type) for action in actions])
    zero = special_and_punctuation_mask(ids, tokenizer)
    model = TinyTypeClassifier(vocab_size=len(tokenizer))
    resources = WeightResources(null_token_id=tokenizer.unk_token_id, type_probabilities_fn=model,
                                decode_fn=tokenizer.decode)
    reference = token_weights("reference", ids, mask, targets, resources, zero_mask=zero)
    loop = counterfactual_token_weights_loop(ids, mask, targets, model, null_token_id=tokenizer.unk_token_id,
                                             zero_mask=zero)
    assert float((reference - loop).abs().max()) <= 1e-6
    no_sqrt = token_weights("no_sqrt", ids, mask, targets, resources, zero_mask=zero)
    assert torch.allclose(no_sqrt, reference**2, atol=1e-6)
    window1 = token_weights("window1", ids, mask, targets, resources, zero_mask=zero)
    assert torch.equal(window1, counterfactual_token_weights(ids, mask, targets, model,
                                                              null_token_id=tokenizer.unk_token_id, window=1,
                                                              zero_mask=zero))
    assert torch.equal(token_weights("uniform", ids, mask, targets, resources), mask.float())
    exact = token_weights("exact_parser", ids, mask, targets, resources, zero_mask=zero)
    assert exact.shape == ids.shape and bool(torch.isfinite(exact).all())
    for name in TOKEN_WEIGHT_ESTIMATORS:
        weights = token_weights(name, ids, mask, targets, resources, zero_mask=zero)
        content = mask.bool() & ~zero if name != "uniform" else mask.bool()
        stats = weight_statistics(weights, content)
        # min-max normalisation: every sequence reaches 1 (the release's 1e-10 guard leaves it a hair below)
        assert stats["sequence_max_min"] == pytest.approx(1.0, abs=1e-6), name
        assert not bool(weights[~mask.bool()].any()), name


def test_registry_reports_missing_resources_and_unknown_names() -> None:
    ids, mask = _one([7, 5, 3, 3])
    with pytest.raises(ConfigError, match="causal model"):
        token_weights("reference", ids, mask, torch.tensor([1]), WeightResources(null_token_id=NULL_ID))
    with pytest.raises(ConfigError, match="decoder"):
        token_weights("exact_parser", ids, mask, torch.tensor([1]), WeightResources(null_token_id=NULL_ID))
    with pytest.raises(ConfigError, match="unknown causal-weight estimator"):
        token_weights("shapley", ids, mask, torch.tensor([1]), WeightResources(null_token_id=NULL_ID))


def test_weight_statistics_hand_computed() -> None:
    weights = torch.tensor([[1.0, 0.1, 0.5, 0.9], [0.0, 0.3, 0.0, 0.0], [0.7, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
    stats = weight_statistics(weights, mask)
    assert stats["token_count"] == 5
    assert math.isclose(stats["share_above_0_8"], 1 / 5) and math.isclose(stats["share_below_0_2"], 2 / 5)
    assert math.isclose(stats["mean"], 1.9 / 5, rel_tol=1e-6)
    assert math.isclose(stats["sequence_max_mean"], 0.65, rel_tol=1e-6) and math.isclose(stats["sequence_max_min"], 0.3, rel_tol=1e-6)
    empty = weight_statistics(torch.zeros(0, 3), torch.zeros(0, 3))
    assert empty["token_count"] == 0 and all(math.isfinite(value) for value in empty.values())
