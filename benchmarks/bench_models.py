"""Benchmark: training throughput of the AutoUI policy's ``token_stats`` (forward + backward), and generation.

Builds the policy from config with random weights (nothing downloaded): ``--size default`` is the CPU size
(d_model 256, 4 + 4 layers), ``--size base`` is Auto-UI-Base's shape (t5-base: d_model 768, 12 + 12 layers,
12 heads, d_ff 3072, vocab 32128, image features 2 x 1408). Inputs are AutoUI prompts and formatted actions
of random types. In one run it measures

- batched forward + backward of ``token_stats`` (samples/s),
- the same samples one at a time (samples/s) and the batched / one-at-a-time ratio,
- sampled generation of ``--new-tokens`` tokens per sample (samples/s),

and, on CUDA, the peak memory (``torch.cuda.max_memory_allocated``). Results are merged into
benchmarks/reports/models.json (one entry per size/device/dtype/batch) and benchmarks/reports/models.md.

    python benchmarks/bench_models.py [--size default|base] [--device cpu|cuda] [--dtype fp32|bf16]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from pathlib import Path
from typing import Callable

import torch

from coso.actions import build_prompt, format_action
from coso.models.autoui import AutoUIConfig, AutoUIPolicy
from coso.models.tokenizer import TokenizerConfig, random_action, random_plan
from coso.training.tokenizer import build_default_tokenizer

REPORT_DIR = Path(__file__).resolve().parent / "reports"
TASKS = [
    'Go to newegg.com, search for "macbook air", and select the first entry',
    "What's the news in Chile?",
    "Open the settings app and turn off bluetooth",
    'Go to bestbuy.com, search for "logitech g910"',
    "Set an alarm for 7am",
    "How do I get to the nearest Verizon Store?",
]
TYPED_TEXTS = ["macbook air", "logitech g910", "news in chile", "verizon store near me"]
SIZES: dict[str, Callable[[], AutoUIConfig]] = {"default": AutoUIConfig, "base": AutoUIConfig.base}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def make_batch(batch: int, feature_width: int, seed: int) -> tuple[list[str], torch.Tensor, list[str]]:
    """AutoUI prompts (with a previous action), stacked random screen features and action texts."""
    rng = random.Random(seed)
    prompts, actions = [], []
    for index in range(batch):
        previous = random_action(rng, TYPED_TEXTS)
        prompts.append(build_prompt(TASKS[index % len(TASKS)], format_action(previous, random_plan(rng, previous))))
        action = random_action(rng, TYPED_TEXTS)
        actions.append(format_action(action, random_plan(rng, action)))
    features = torch.randn(batch, feature_width, generator=torch.Generator().manual_seed(seed))
    return prompts, features, actions


def synchronise(device: torch.device) -> None:
    """Wait for queued GPU work so wall-clock times are real."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(step: Callable[[], None], repeats: int, warmup: int, device: torch.device) -> float:
    """Median seconds of ``step`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        step()
    synchronise(device)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        synchronise(device)
        seconds.append(time.perf_counter() - start)
    return sorted(seconds)[len(seconds) // 2]


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU architecture and core count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} cpu ({os.cpu_count()} cores)"


def run(args: argparse.Namespace) -> dict[str, object]:
    """Measure one configuration and return its result record."""
    torch.manual_seed(0)
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    config = SIZES[args.size]()
    tokenizer = build_default_tokenizer(TokenizerConfig())
    policy = AutoUIPolicy(config, tokenizer).to(device=device, dtype=dtype).train()
    width = config.num_screens * config.image_feature_dim
    prompts, features, actions = make_batch(args.batch, width, seed=1)
    features = features.to(device)

    def train_step(rows: slice) -> None:
        stats = policy.token_stats(prompts[rows], features[rows], actions[rows])
        loss = -(stats.sequence_log_probs().mean()) - stats.entropies.sum() / stats.mask.sum()
        loss.backward()
        policy.zero_grad(set_to_none=True)

    def batched() -> None:
        train_step(slice(0, args.batch))

    def one_at_a_time() -> None:
        for row in range(args.batch):
            train_step(slice(row, row + 1))

    generator = torch.Generator(device=device).manual_seed(0)

    def generate() -> None:
        policy.generate_tokens(prompts, features, max_new_tokens=args.new_tokens, generator=generator)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    batched_s = timed(batched, args.repeats, args.warmup, device)
    peak_train = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    single_s = timed(one_at_a_time, args.repeats, args.warmup, device)
    generate_s = timed(generate, args.repeats, args.warmup, device)
    action_tokens = [len(tokenizer(a)["input_ids"]) for a in actions]
    prompt_tokens = [len(tokenizer(p.removesuffix("</s>"))["input_ids"]) for p in prompts]
    return {
        "size": args.size, "device": args.device, "dtype": args.dtype, "batch": args.batch,
        "device_name": device_name(device),
        "threads": torch.get_num_threads(),
        "load_average_1min": round(os.getloadavg()[0], 2),  # other processes sharing the CPU during the run
        "parameters_m": round(sum(p.numel() for p in policy.parameters()) / 1e6, 2),
        "mean_prompt_tokens": round(sum(prompt_tokens) / len(prompt_tokens), 1),
        "mean_action_tokens": round(sum(action_tokens) / len(action_tokens), 1),
        "train_batched_samples_per_s": round(args.batch / batched_s, 3),
        "train_one_at_a_time_samples_per_s": round(args.batch / single_s, 3),
        "batched_over_one_at_a_time": round(single_s / batched_s, 2),
        "generate_samples_per_s": round(args.batch / generate_s, 3),
        "generate_new_tokens": args.new_tokens,
        "peak_train_memory_gib": round(peak_train / 2**30, 3) if peak_train is not None else None,
        "repeats": args.repeats, "torch": torch.__version__,
    }


def write_report(record: dict[str, object]) -> Path:
    """Merge ``record`` into models.json (keyed by size/device/dtype/batch) and rewrite models.md from it."""
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    json_path, markdown_path = REPORT_DIR / "models.json", REPORT_DIR / "models.md"
    records = json.loads(json_path.read_text()) if json_path.is_file() else []
    key = lambda r: (r["size"], r["device"], r["dtype"], r["batch"])  # noqa: E731
    records = [r for r in records if key(r) != key(record)] + [record]
    records.sort(key=lambda r: tuple(str(v) for v in key(r)))
    json_path.write_text(json.dumps(records, indent=2) + "\n")
    columns = [
        ("size", "size"), ("device", "device"), ("dtype", "dtype"), ("batch", "batch"), ("threads", "threads"),
        ("parameters_m", "params (M)"), ("mean_prompt_tokens", "prompt tok"), ("mean_action_tokens", "action tok"),
        ("train_batched_samples_per_s", "fwd+bwd batched (samples/s)"),
        ("train_one_at_a_time_samples_per_s", "fwd+bwd one at a time (samples/s)"),
        ("batched_over_one_at_a_time", "batched / single"),
        ("generate_samples_per_s", "generate (samples/s)"), ("peak_train_memory_gib", "peak train mem (GiB)"),
        ("load_average_1min", "load avg"), ("device_name", "device name"),
    ]
    lines = [
        "# AutoUI policy throughput",
        "",
        "Written by `python benchmarks/bench_models.py` (random weights, built from config; median of the timed",
        "repeats after a warm-up). *fwd+bwd*: `token_stats` on (prompt, stacked screen features, action) plus",
        "backward of a log-prob + entropy loss. *batched / single*: the same samples as one padded batch versus",
        "one call each. *generate*: sampled decoding with a KV cache, `generate_new_tokens` tokens per sample",
        "(random weights rarely stop early). Peak memory is `torch.cuda.max_memory_allocated` over the batched",
        "training step (CUDA only). *load avg*: the machine's 1-minute load average when the run ended; CPU",
        "numbers taken while other jobs share the cores are lower than on an idle machine.",
        "",
        "| " + " | ".join(title for _, title in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for entry in records:
        cells = ["-" if entry.get(name) is None else str(entry.get(name)) for name, _ in columns]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    markdown_path.write_text("\n".join(lines))
    return markdown_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="default")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    parser.add_argument("--batch", type=int, default=None, help="default: 8 (default size), 4 (base size)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    args.batch = args.batch or (8 if args.size == "default" else 4)
    torch.set_num_threads(args.threads)
    record = run(args)
    print(json.dumps(record))
    print(f"report: {write_report(record)}")


if __name__ == "__main__":
    main()
