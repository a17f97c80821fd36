"""Benchmark: vectorised counterfactual token weights against the per-position loop, on CPU.

The causal model is the project's own ``coso.models.causal.ActionTypeClassifier`` at the reference's size
(hidden 128, 4 heads, 3 layers, FFN 512, mean-pooled; randomly initialised, eval mode) over the project's
tokenizer, and ``.probabilities`` is the ``type_probabilities_fn``. Inputs are realistic batches (8 and 32)
of AutoUI action texts: ``format_action`` of random actions of all 8 types with Action Plan preambles,
tokenised as the policy scores them (EOS appended, right-padded), with the zero mask of
``special_and_punctuation_mask``.

For the machine's default torch thread count and for one thread, in the same run, it times
``counterfactual_token_weights_loop`` (the library's loop: one call per sequence and per content position),
a literal loop that also evaluates every zero-masked position as the reference code does, and
``counterfactual_token_weights`` at several chunk sizes, interleaving the methods in each repeat and keeping
each one's best time. It checks that every vectorised output equals the loop's (<= 1e-6 with a float64 copy
of the model; float32 differences are reported), then writes benchmarks/reports/causal_weights.md.

    python benchmarks/bench_causal_weights.py [--repeats 5] [--batch-sizes 8 32]
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import random
import time
from pathlib import Path
from typing import Callable

import torch
from omegaconf import OmegaConf

from coso.actions import Action, ActionType, format_action
from coso.algorithms.coso import (
    CPU_CHUNK_SIZE,
    REFERENCE_WINDOW,
    counterfactual_token_weights,
    counterfactual_token_weights_loop,
    normalise_effects,
    special_and_punctuation_mask,
)
from coso.models.causal import ActionTypeClassifier, ActionTypeClassifierConfig, action_type_labels
from coso.models.text_encoder import SmallEncoderConfig
from coso.training.tokenizer import build_default_tokenizer

REPORT_PATH = Path(__file__).resolve().parent / "reports" / "causal_weights.md"
TARGET_RATIO = 5.0
FLOAT64_TOLERANCE = 1e-6
TYPED_TEXTS = ["coffee maker", "weather in paris", "best buy", "alarm for seven", "usb c cable under 20 dollars"]
CHUNK_SIZES: tuple[int | None, ...] = (None, 128, 64, 32, 16)
REFERENCE_SIZES = SmallEncoderConfig(hidden=128, heads=4, layers=3, ffn=512, max_positions=256)
CPU_SCALE_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "scale" / "cpu.yaml"


def cpu_scale_sizes() -> SmallEncoderConfig:
    """The causal model of the default CPU scale (configs/scale/cpu.yaml), sized to its policy."""
    causal = OmegaConf.load(CPU_SCALE_CONFIG).causal
    return SmallEncoderConfig(hidden=causal.hidden_size, heads=causal.num_heads, layers=causal.num_layers,
                              ffn=causal.ffn_size, max_positions=256)


MODEL_SIZES: dict[str, Callable[[], SmallEncoderConfig]] = {"reference": lambda: REFERENCE_SIZES,
                                                            "cpu": cpu_scale_sizes}

TypeProbabilitiesFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def random_actions(count: int, seed: int) -> list[str]:
    """Formatted AutoUI actions of uniformly drawn types, each with an Action Plan of 1-4 types."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        action_type = rng.choice(list(ActionType))
        if action_type == ActionType.DualPoint:
            touch = (rng.random(), rng.random())
            action = Action(action_type, touch, touch if rng.random() < 0.7 else (rng.random(), rng.random()))
        elif action_type == ActionType.Type:
            action = Action.type_text(rng.choice(TYPED_TEXTS))
        else:
            action = Action(action_type)
        plan = [rng.choice(list(ActionType)) for _ in range(rng.randint(0, 3))] + [action.type]
        texts.append(format_action(action, plan))
    return texts


class RowCounter:
    """Wraps a type-probability function and counts the rows and calls it is given."""

    def __init__(self, function: TypeProbabilitiesFn) -> None:
        self.function, self.rows, self.calls = function, 0, 0

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.rows += ids.shape[0]
        self.calls += 1
        return self.function(ids, mask)


@torch.no_grad()
def literal_loop(ids: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor, function: TypeProbabilitiesFn,
                 *, null_token_id: int, zero_mask: torch.Tensor) -> torch.Tensor:
    """The reference code's straightforward order: an effect for every attended position, zeroed afterwards."""
    batch_size, length = ids.shape
    attention = mask.bool()
    effects = torch.zeros(batch_size, length, dtype=torch.float64)
    for row in range(batch_size):
        sequence, sequence_mask = ids[row : row + 1], mask[row : row + 1]
        original = function(sequence, sequence_mask).double()[0, targets[row]]
        for position in attention[row].nonzero().squeeze(1).tolist():
            perturbed = sequence.clone()
            window = slice(position, min(position + REFERENCE_WINDOW, length))
            perturbed[0, window] = torch.where(attention[row, window], null_token_id, sequence[0, window])
            effects[row, position] = (original - function(perturbed, sequence_mask).double()[0, targets[row]]).abs()
    return normalise_effects(effects, attention & ~zero_mask)


def _label(chunk_size: int | None) -> str:
    return "one call" if chunk_size is None else f"chunks of {chunk_size}"


def time_interleaved(methods: dict[str, Callable[[], torch.Tensor]], repeats: int) -> dict[str, float]:
    """Best wall time of each method over ``repeats`` rounds; a round runs every method once, in turn."""
    best = {name: float("inf") for name in methods}
    for _ in range(repeats):
        for name, method in methods.items():
            start = time.perf_counter()
            method()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def _max_diff(first: torch.Tensor, second: torch.Tensor) -> float:
    return float((first.double() - second.double()).abs().max())


@torch.no_grad()
def model_row_cost(model: ActionTypeClassifier, length: int, rows: int, repeats: int) -> float:
    """Best seconds per row of the model alone on ``rows`` random unpadded rows of ``length`` tokens."""
    generator = torch.Generator().manual_seed(length)
    ids = torch.randint(4, len(model.tokenizer), (rows, length), generator=generator)
    mask = torch.ones(rows, length, dtype=torch.long)
    return time_interleaved({"model": lambda: model.probabilities(ids, mask)}, repeats)["model"] / rows


def build_model(tokenizer, sizes: SmallEncoderConfig = REFERENCE_SIZES) -> ActionTypeClassifier:
    """A causal model of the given sizes in eval mode (random weights from its init seed)."""
    config = ActionTypeClassifierConfig(encoder=sizes)
    return ActionTypeClassifier.from_config(config, tokenizer).eval()


def measure_batch(model: ActionTypeClassifier, model64: ActionTypeClassifier, tokenizer, batch_size: int,
                  seed: int, repeats: int, thread_counts: list[int]) -> dict:
    """Row counts, exactness checks and per-thread-count timings of every method on one batch."""
    texts = random_actions(batch_size, seed)
    encoded = model.tokenize(texts)
    ids, mask = encoded.input_ids, encoded.attention_mask
    zero = special_and_punctuation_mask(ids, tokenizer)
    targets = _action_types(texts)
    options = dict(null_token_id=model.null_token_id, zero_mask=zero)

    loop64 = counterfactual_token_weights_loop(ids, mask, targets, model64.probabilities, **options)
    literal64 = literal_loop(ids, mask, targets, model64.probabilities, **options)
    loop32 = counterfactual_token_weights_loop(ids, mask, targets, model.probabilities, **options)
    literal32 = literal_loop(ids, mask, targets, model.probabilities, **options)
    chunks = []
    for chunk_size in CHUNK_SIZES:
        counter = RowCounter(model.probabilities)
        fast32 = counterfactual_token_weights(ids, mask, targets, counter, chunk_size=chunk_size, **options)
        fast64 = counterfactual_token_weights(ids, mask, targets, model64.probabilities, chunk_size=chunk_size,
                                              **options)
        chunks.append({
            "chunk_size": chunk_size,
            "model_rows": counter.rows,
            "model_calls": counter.calls,
            "max_abs_diff_float32": _max_diff(fast32, loop32),
            "max_abs_diff_float64": _max_diff(fast64, loop64),
        })

    timings = []
    for threads in thread_counts:
        torch.set_num_threads(threads)
        methods: dict[str, Callable[[], torch.Tensor]] = {
            "loop": lambda: counterfactual_token_weights_loop(ids, mask, targets, model.probabilities, **options),
            "literal": lambda: literal_loop(ids, mask, targets, model.probabilities, **options),
        }
        for chunk_size in CHUNK_SIZES:
            methods[_label(chunk_size)] = (
                lambda size=chunk_size: counterfactual_token_weights(
                    ids, mask, targets, model.probabilities, chunk_size=size, **options
                )
            )
        best = time_interleaved(methods, repeats)
        vectorised = {_label(size): best[_label(size)] for size in CHUNK_SIZES}
        fastest = min(vectorised, key=vectorised.get)
        floor = model_row_cost(model, round(float(mask.sum(1).float().mean())), CPU_CHUNK_SIZE, repeats)
        timings.append({
            "threads": threads,
            "model_floor_ms_per_row": 1e3 * floor,
            "ratio_bound": best["loop"] / (floor * chunks[0]["model_rows"]),
            "loop_s": best["loop"],
            "literal_s": best["literal"],
            "vectorised_s": vectorised,
            "default_chunk": _label(CPU_CHUNK_SIZE),
            "ratio_default_chunk": best["loop"] / vectorised[_label(CPU_CHUNK_SIZE)],
            "ratio_one_call": best["loop"] / vectorised[_label(None)],
            "fastest_chunk": fastest,
            "ratio_fastest_chunk": best["loop"] / vectorised[fastest],
            "ratio_default_chunk_vs_literal": best["literal"] / vectorised[_label(CPU_CHUNK_SIZE)],
        })
    attention = mask.bool()
    return {
        "batch_size": batch_size,
        "mean_tokens": float(mask.sum(1).float().mean()),
        "padded_tokens": int(mask.shape[1]),
        "attended_tokens": int(attention.sum()),
        "content_tokens": int((attention & ~zero).sum()),
        "loop_calls": int((attention & ~zero).sum()) + batch_size,
        "literal_calls": int(attention.sum()) + batch_size,
        "distinct_texts": len(set(texts)),
        "literal_max_abs_diff_float64": _max_diff(literal64, loop64),
        "literal_max_abs_diff_float32": _max_diff(literal32, loop32),
        "chunks": chunks,
        "timings": timings,
    }


def _action_types(texts: list[str]) -> torch.Tensor:
    """The parsed action type of every text (all of them must parse)."""
    labels = action_type_labels(texts)
    if not bool(labels.valid.all()):
        raise SystemExit("a formatted random action did not parse: the benchmark's inputs are wrong")
    return labels.labels


def run(batch_sizes: list[int], repeats: int, seed: int, model_sizes: list[str]) -> dict:
    """Every model size and batch size at the default thread count and at one thread, with exactness checks."""
    default_threads = torch.get_num_threads()
    thread_counts = [default_threads] if default_threads == 1 else [default_threads, 1]
    tokenizer = build_default_tokenizer()
    results = []
    for size_name in model_sizes:
        sizes = MODEL_SIZES[size_name]()
        model = build_model(tokenizer, sizes)
        model64 = copy.deepcopy(model).double()
        for batch_size in batch_sizes:
            torch.set_num_threads(default_threads)
            row = measure_batch(model, model64, tokenizer, batch_size, seed + batch_size, repeats, thread_counts)
            row["model"] = f"{size_name} (hidden {sizes.hidden}, {sizes.heads} heads, {sizes.layers} layers, " \
                           f"FFN {sizes.ffn})"
            results.append(row)
    torch.set_num_threads(default_threads)
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "default_threads": default_threads,
        "thread_counts": thread_counts,
        "repeats": repeats,
        "target_ratio": TARGET_RATIO,
        "cpu_chunk_size": CPU_CHUNK_SIZE,
        "results": results,
    }


def markdown(report: dict) -> str:
    """The report: row counts, exactness, timings and ratios per batch size and thread count."""
    lines = [
        "# Counterfactual token weights: vectorised vs per-position loop",
        "",
        f"Command: `python benchmarks/bench_causal_weights.py --repeats {report['repeats']}` (CPU, torch "
        f"{report['torch']}, Python {report['python']}; best of {report['repeats']} interleaved rounds; the "
        "machine's 2 cores were shared with other jobs, so single timings vary by tens of percent).",
        "Model: `coso.models.causal.ActionTypeClassifier` (mean-pooled, random init, eval mode) at the reference's "
        "size and at the default CPU scale's (sized to its policy), `.probabilities` as type_probabilities_fn, the "
        "project tokenizer.",
        "Inputs: `format_action` of random actions of all 8 types with Action Plans, tokenised with EOS and "
        "right padding; window 4; zero mask from `special_and_punctuation_mask`; every row valid.",
        "",
        "*loop*: `counterfactual_token_weights_loop`, one call per sequence and per content position (it already "
        "skips zero-masked positions). *literal*: the reference code's order, one call per sequence and per "
        "attended position, zero-masked effects discarded afterwards. *vectorised*: "
        "`counterfactual_token_weights`; default chunk = `CPU_CHUNK_SIZE` "
        f"= {report['cpu_chunk_size']} rows.",
        "",
        "## Rows and exactness",
        "",
        "| model | batch | mean tokens | padded width | attended | content | distinct texts | literal calls "
        "| loop calls | vectorised rows | max diff f64 (all chunkings) | max diff f32 (all chunkings) "
        "| literal diff f64 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["results"]:
        chunks = row["chunks"]
        lines.append(
            f"| {row['model']} | {row['batch_size']} | {row['mean_tokens']:.1f} | {row['padded_tokens']} "
            f"| {row['attended_tokens']} "
            f"| {row['content_tokens']} | {row['distinct_texts']} | {row['literal_calls']} | {row['loop_calls']} "
            f"| {chunks[0]['model_rows']} | {max(c['max_abs_diff_float64'] for c in chunks):.1e} "
            f"| {max(c['max_abs_diff_float32'] for c in chunks):.1e} | {row['literal_max_abs_diff_float64']:.1e} |"
        )
    lines += [
        "",
        "## Timings (seconds, best of the rounds)",
        "",
        "| model | batch | threads | literal | loop | " + " | ".join(_label(size) for size in CHUNK_SIZES)
        + " | loop / default chunk | loop / fastest chunk | literal / default chunk | loop ms/row "
        "| vectorised ms/row | model alone ms/row | bound on loop / vectorised |",
        "|---|---|---|---|---|" + "---|" * len(CHUNK_SIZES) + "---|---|---|---|---|---|---|",
    ]
    for row in report["results"]:
        for timing in row["timings"]:
            cells = " | ".join(f"{timing['vectorised_s'][_label(size)]:.3f}" for size in CHUNK_SIZES)
            default_s = timing["vectorised_s"][timing["default_chunk"]]
            lines.append(
                f"| {row['model'].split(' ')[0]} | {row['batch_size']} | {timing['threads']} "
                f"| {timing['literal_s']:.3f} | {timing['loop_s']:.3f} "
                f"| {cells} | **{timing['ratio_default_chunk']:.2f}x** | {timing['ratio_fastest_chunk']:.2f}x "
                f"({timing['fastest_chunk']}) | {timing['ratio_default_chunk_vs_literal']:.2f}x "
                f"| {1e3 * timing['loop_s'] / row['loop_calls']:.2f} "
                f"| {1e3 * default_s / row['chunks'][0]['model_rows']:.2f} "
                f"| {timing['model_floor_ms_per_row']:.2f} | {timing['ratio_bound']:.2f}x |"
            )
    lines.append("")
    for model in dict.fromkeys(row["model"] for row in report["results"]):
        timings = [t for row in report["results"] if row["model"] == model for t in row["timings"]]
        worst = min(t["ratio_default_chunk"] for t in timings)
        worst_literal = min(t["ratio_default_chunk_vs_literal"] for t in timings)
        lines.append(
            f"- {model}: smallest ratio over batch sizes and thread counts, default chunk: against the literal "
            f"per-position loop {worst_literal:.2f}x ({_verdict(worst_literal, report['target_ratio'])} the "
            f"{report['target_ratio']:.0f}x target); against the content-position loop {worst:.2f}x "
            f"({_verdict(worst, report['target_ratio'])} it)."
        )
    lines += [
        "",
        "*ms/row*: seconds per model row (loop: per call; vectorised: per distinct row it evaluates). *Model "
        f"alone*: the classifier on {report['cpu_chunk_size']} unpadded random rows of the batch's mean length, "
        "best of the rounds, about the least any exact estimator calling this model can spend per row. *Bound* "
        "= loop time / (vectorised rows x model-alone cost) estimates the largest ratio such an estimator could "
        "reach on that batch; it is measured separately, so under a changing load it can land below the ratio "
        "achieved.",
        "",
        "Max diff: largest |vectorised - loop| weight over all chunkings (f64: a float64 copy of the model; f32: "
        "the timed model). In float32 a row's probabilities move in the last bits with the call's batch size and "
        "width, which min-max normalisation and the square root magnify near a sequence's minimum.",
    ]
    return "\n".join(lines) + "\n"


def _verdict(ratio: float, target: float) -> str:
    return "meets" if ratio >= target else "misses"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", type=Path, default=REPORT_PATH)
    parser.add_argument("--model-sizes", nargs="+", default=list(MODEL_SIZES), choices=list(MODEL_SIZES))
    args = parser.parse_args()
    report = run(args.batch_sizes, args.repeats, args.seed, args.model_sizes)
    for row in report["results"]:
        diffs = [chunk["max_abs_diff_float64"] for chunk in row["chunks"]] + [row["literal_max_abs_diff_float64"]]
        if not all(diff <= FLOAT64_TOLERANCE for diff in diffs):
            raise SystemExit(f"vectorised and loop weights disagree in float64: {json.dumps(row)}")
    text = markdown(report)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text)
    print(text)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
