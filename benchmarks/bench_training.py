"""Training throughput on CPU: actor-update samples/s (DigiRL, naive entropy, CoSo) and rollout env-steps/s.

Measured in one run on the same batch and models, so the ratios compare like with like:
- one actor update (batch_size x grad_accum_steps samples) of DigiRL, naive entropy and CoSo; CoSo is
  measured with a cold weight cache (every distinct action computed) and, at the cpu size, over a whole
  actor phase (actor_epochs updates, where the cache serves repeated actions, as in training);
- at two sizes: the default CPU scale, and the paper's proportions (an Auto-UI-Base-sized policy with the
  reference's causal model), both on CPU;
- rollout environment steps/s of the AutoUI agent (sampling) on the simulated phone.

    python benchmarks/bench_training.py [--threads N] [--repeats R] [--sizes cpu base]

Writes benchmarks/reports/training.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Callable

import torch
from accelerate import Accelerator
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from coso.cli import CONFIG_DIR
from coso.config import register_configs
from coso.data.buffer import ReplayBuffer
from coso.env.sim.expert import ExpertPolicy, NoiseConfig
from coso.env.factory import build_encoder, build_pool
from coso.env.task_generator import generate_tasks
from coso.rollout import collect_trajectories
from coso.training.components import build_models
from coso.training.trainer import Trainer
from coso.atomic import atomic_write_text

REPORT_DIR = Path(__file__).resolve().parent / "reports"


def _config(overrides: list[str]):
    register_configs()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return OmegaConf.to_object(compose(config_name="coso_off2on", overrides=overrides))


def _trainer(config, use_entropy: bool, use_causal: bool) -> Trainer:
    config.use_entropy, config.use_causal = use_entropy, use_causal
    models = build_models(config)
    return Trainer(models, config, Accelerator(cpu=True), torch.Generator().manual_seed(0))


def _time_interleaved(functions: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """Median wall seconds of each function over ``repeats`` rounds, after a warm-up round; every round calls
    each function once, in turn, so a change in the machine's load hits all of them alike."""
    for function in functions.values():
        function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


SIZES: dict[str, list[str]] = {
    # the default CPU scale: the built-in policy and its causal model (~5% of the policy's parameters)
    "cpu": [],
    # the paper's proportions on CPU: an Auto-UI-Base-sized policy (t5-base, 227M, random weights) next to the
    # reference's causal model (hidden 128, 4 heads, 3 layers, FFN 512), with the paper scale's batch of 4
    "base": [
        "agent.model.d_model=768", "agent.model.num_layers=12", "agent.model.num_decoder_layers=12",
        "agent.model.num_heads=12", "+agent.model.d_kv=64", "agent.model.d_ff=3072", "+agent.model.vocab_size=32128",
        "causal.hidden_size=128", "causal.num_heads=4", "causal.num_layers=3", "causal.ffn_size=512",
        "train.batch_size=4", "train.grad_accum_steps=1",
    ],
}


def _demonstrations(config, episodes: int):
    tasks = generate_tasks(episodes, 0, "webshop")
    encoder = build_encoder(config.env)
    with build_pool(config.env, 0) as pool:
        data = collect_trajectories(pool, ExpertPolicy(NoiseConfig.from_level(0.3), seed=0), tasks, encoder,
                                    seeds=0, gamma=0.5, progress=False).trajectories
    return tasks, encoder, data


def measure_size(size: str, repeats: int, episodes: int, phase: bool) -> tuple[dict[str, float], object]:
    """Actor-update seconds of DigiRL, naive entropy and CoSo on one batch (and over an actor phase)."""
    config = _config(["logging.progress=false", *SIZES[size]])
    train = config.train
    _, _, data = _demonstrations(config, episodes)
    buffer = ReplayBuffer(train.capacity, data)
    samples = train.batch_size * train.grad_accum_steps
    results: dict[str, float] = {}
    trainers = {"digirl": _trainer(config, False, False), "entropy": _trainer(config, True, False),
                "coso": _trainer(config, True, True)}
    policy_params = sum(p.numel() for p in trainers["coso"].unwrapped().policy.parameters())
    causal_params = sum(p.numel() for p in trainers["coso"].unwrapped().causal.parameters())
    def one_update(trainer: Trainer) -> None:
        trainer.generator.manual_seed(0)  # the same batch for every algorithm
        trainer.bonus.invalidate()  # CoSo: a cold cache, every distinct action's weights computed
        trainer.train_actor(buffer, 1, entropy=trainer.config.use_entropy)

    updates = _time_interleaved({name: (lambda t=trainer: one_update(t)) for name, trainer in trainers.items()},
                                repeats)
    results.update({f"{name}_update_s": seconds for name, seconds in updates.items()})
    report: dict[str, float] = {
        "policy_params_M": policy_params / 1e6,
        "causal_params_M": causal_params / 1e6,
        "samples_per_update": samples,
        "digirl_samples_per_s": samples / results["digirl_update_s"],
        "entropy_samples_per_s": samples / results["entropy_update_s"],
        "coso_samples_per_s": samples / results["coso_update_s"],
        "ratio_coso_over_digirl_one_update_cold_cache": results["coso_update_s"] / results["digirl_update_s"],
        "ratio_entropy_over_digirl_one_update": results["entropy_update_s"] / results["digirl_update_s"],
    }
    if phase:
        coso, digirl = trainers["coso"], trainers["digirl"]

        def coso_phase() -> None:
            coso.generator.manual_seed(0)
            coso.bonus.invalidate()
            coso.train_actor(buffer, train.actor_epochs, entropy=True)

        def digirl_phase() -> None:
            digirl.generator.manual_seed(0)
            digirl.train_actor(buffer, train.actor_epochs, entropy=False)

        phases = _time_interleaved({"coso": coso_phase, "digirl": digirl_phase}, max(1, repeats // 2))
        results["coso_phase_s"], results["digirl_phase_s"] = phases["coso"], phases["digirl"]
        report["actor_epochs"] = train.actor_epochs
        report["ratio_coso_over_digirl_actor_phase"] = results["coso_phase_s"] / results["digirl_phase_s"]
    report.update({key: round(value, 4) for key, value in results.items()})
    return report, trainers["digirl"]


def measure_rollout(trainer: Trainer, episodes: int) -> dict[str, float]:
    """Environment steps/s of the AutoUI agent (sampling) on the simulated phone."""
    from coso.agents.autoui import AutoUIAgent

    config = trainer.config
    tasks = generate_tasks(episodes, 0, "webshop")
    encoder = build_encoder(config.env)
    agent = AutoUIAgent(trainer.unwrapped().policy.eval(), temperature=1.0,
                        max_new_tokens=config.agent.max_new_tokens, generator=torch.Generator().manual_seed(0))
    with build_pool(config.env, 0) as pool:
        started = time.perf_counter()
        rollout = collect_trajectories(pool, agent, tasks[:16], encoder, seeds=100, gamma=0.5, progress=False)
        rollout_s = time.perf_counter() - started
    return {"rollout_env_steps_per_s": rollout.stats.env_steps / rollout_s,
            "rollout_env_steps": rollout.stats.env_steps,
            "rollout_invalid_actions": rollout.stats.invalid_actions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=48, help="demonstrator episodes forming the buffer")
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    reports: dict[str, dict[str, float]] = {}
    for size in args.sizes:
        reports[size], digirl = measure_size(size, args.repeats, args.episodes, phase=size == "cpu")
        if size == "cpu":
            reports[size].update(measure_rollout(digirl, 16))
        print(size, json.dumps(reports[size]), flush=True)
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    document = {"threads": args.threads, "repeats": args.repeats, "sizes": reports}
    atomic_write_text(REPORT_DIR / "training.json", json.dumps(document, indent=2) + "\n")
    keys = list(dict.fromkeys(key for report in reports.values() for key in report))
    lines = [
        "# Training throughput (CPU)",
        "",
        f"Command: `python benchmarks/bench_training.py --threads {args.threads} --repeats {args.repeats} "
        f"--sizes {' '.join(args.sizes)}`; coso_off2on's config; every algorithm updates on the same batch; "
        f"medians of {args.repeats} interleaved rounds after a warm-up round (actor phases: "
        f"{max(1, args.repeats // 2)} rounds); load average at the end: {os.getloadavg()[0]:.2f}.",
        "",
        "- *cpu*: the default CPU scale (the built-in policy; its causal model sized to the policy as the paper's "
        "is to Auto-UI-Base).",
        "- *base*: the paper's proportions: an Auto-UI-Base-sized policy (t5-base sizes, random weights) and the "
        "reference's causal model (hidden 128, 4 heads, 3 layers, FFN 512), batch 4.",
        "",
        "CoSo's one-update time has a cold weight cache (every distinct action's counterfactual weights "
        "computed); the actor-phase ratio covers actor_epochs updates, where repeated actions hit the cache "
        "as in training.",
        "",
        "| measure | " + " | ".join(reports) + " |",
        "|---|" + "---|" * len(reports),
        *(f"| {key} | " + " | ".join(_cell(report.get(key)) for report in reports.values()) + " |" for key in keys),
        "",
        "The untrained policy's rollout writes mostly unparseable text, so its episodes end after one step "
        "(the reference's rule) and each step costs a full max_new_tokens generation: a lower bound.",
    ]
    atomic_write_text(REPORT_DIR / "training.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def _cell(value: object) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
