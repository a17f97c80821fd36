"""Training throughput on CPU: actor-update samples/s (DigiRL, naive entropy, CoSo) and rollout env-steps/s.

Measured in one run on the same batch and models, so the ratios compare like with like:
- one actor update (batch_size x grad_accum_steps samples) of DigiRL, naive entropy and CoSo; CoSo is
  measured with a cold weight cache (every distinct action computed) and over a whole actor phase
  (actor_epochs updates, where the cache serves repeated actions, as in training);
- rollout environment steps/s of the AutoUI agent (sampling) on the simulated phone.

    python benchmarks/bench_training.py [--threads N] [--repeats R]

Writes benchmarks/reports/training.md and .json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from coso.cli import CONFIG_DIR
from coso.config import register_configs
from coso.data.buffer import ReplayBuffer
from coso.env.demonstrator import ExpertPolicy, NoiseConfig
from coso.env.factory import build_encoder, build_pool
from coso.env.task_generator import generate_tasks
from coso.rollout import collect_trajectories
from coso.training.components import build_models
from coso.training.entropy import build_entropy_bonus
from coso.training.trainer import Trainer

REPORT_DIR = Path(__file__).resolve().parent / "reports"


def _config(overrides: list[str]):
    register_configs()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return OmegaConf.to_object(compose(config_name="coso_off2on", overrides=overrides))


def _trainer(config, use_entropy: bool, use_causal: bool) -> Trainer:
    config.use_entropy, config.use_causal = use_entropy, use_causal
    models = build_models(config)
    trainer = Trainer(models, config, Accelerator(cpu=True), None, torch.Generator().manual_seed(0))
    trainer.bonus = build_entropy_bonus(config, trainer.unwrapped, models.policy.tokenizer)
    return trainer


def _time(fn, repeats: int) -> float:
    """Median wall seconds of ``fn`` over ``repeats`` calls (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=48, help="demonstrator episodes forming the buffer")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = _config(["logging.progress=false"])
    train = config.train
    tasks = generate_tasks(args.episodes, 0, "webshop")
    encoder = build_encoder(config.env)
    with build_pool(config.env, 0) as pool:
        data = collect_trajectories(pool, ExpertPolicy(NoiseConfig.from_level(0.3), seed=0), tasks, encoder,
                                    seeds=0, gamma=0.5, progress=False).trajectories
    buffer = ReplayBuffer(train.capacity, data)
    samples = train.batch_size * train.grad_accum_steps
    results: dict[str, float] = {}
    trainers = {"digirl": _trainer(config, False, False), "entropy": _trainer(config, True, False),
                "coso": _trainer(config, True, True)}
    for name, trainer in trainers.items():
        def one_update(trainer=trainer) -> None:
            trainer.generator.manual_seed(0)  # the same batch for every algorithm
            trainer.bonus.invalidate()  # CoSo: a cold cache, every distinct action's weights computed
            trainer.train_actor(buffer, 1, entropy=trainer.config.use_entropy)
        results[f"{name}_update_s"] = _time(one_update, args.repeats)
    coso = trainers["coso"]

    def coso_phase() -> None:
        coso.generator.manual_seed(0)
        coso.bonus.invalidate()
        coso.train_actor(buffer, train.actor_epochs, entropy=True)

    digirl = trainers["digirl"]

    def digirl_phase() -> None:
        digirl.generator.manual_seed(0)
        digirl.train_actor(buffer, train.actor_epochs, entropy=False)

    results["coso_phase_s"] = _time(coso_phase, 1)
    results["digirl_phase_s"] = _time(digirl_phase, 1)
    agent_model = trainers["digirl"].unwrapped().policy.eval()
    from coso.agents.autoui import AutoUIAgent

    agent = AutoUIAgent(agent_model, temperature=1.0, max_new_tokens=config.agent.max_new_tokens,
                        generator=torch.Generator().manual_seed(0))
    with build_pool(config.env, 0) as pool:
        started = time.perf_counter()
        rollout = collect_trajectories(pool, agent, tasks[:16], encoder, seeds=100, gamma=0.5, progress=False)
        rollout_s = time.perf_counter() - started
    report = {
        "threads": args.threads,
        "samples_per_update": samples,
        "actor_epochs": train.actor_epochs,
        "digirl_samples_per_s": samples / results["digirl_update_s"],
        "entropy_samples_per_s": samples / results["entropy_update_s"],
        "coso_samples_per_s": samples / results["coso_update_s"],
        "ratio_coso_over_digirl_one_update_cold_cache": results["coso_update_s"] / results["digirl_update_s"],
        "ratio_entropy_over_digirl_one_update": results["entropy_update_s"] / results["digirl_update_s"],
        "ratio_coso_over_digirl_actor_phase": results["coso_phase_s"] / results["digirl_phase_s"],
        "rollout_env_steps_per_s": rollout.stats.env_steps / rollout_s,
        "rollout_env_steps": rollout.stats.env_steps,
        "rollout_invalid_actions": rollout.stats.invalid_actions,
        **{key: round(value, 4) for key, value in results.items()},
    }
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "training.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Training throughput (CPU)",
        "",
        f"Command: `python benchmarks/bench_training.py --threads {args.threads} --repeats {args.repeats}`; "
        f"default CPU model (coso_off2on, scale=cpu), {samples} samples per actor update "
        f"(batch {train.batch_size} x accumulation {train.grad_accum_steps}), median of {args.repeats}.",
        "",
        "| measure | value |",
        "|---|---|",
        *(f"| {key} | {value:.3f} |" if isinstance(value, float) else f"| {key} | {value} |"
          for key, value in report.items()),
        "",
        "The untrained policy's rollout writes mostly unparseable text, so its episodes end after one step "
        "(the reference's rule) and each step costs a full max_new_tokens generation: a lower bound.",
    ]
    (REPORT_DIR / "training.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
