"""Probe whether sampling can recover what greedy decoding gets wrong: the room the online phase has.

For each evaluation task of a checkpoint: greedy success, then ``--samples`` episodes at the rollout
temperature. Online RL (DigiRL's filtered actor update) can only fix a greedy failure if rollouts at the
rollout temperature sometimes succeed on it; this prints, for the greedy-failed and greedy-solved tasks
separately, how often they do, and which queries fail greedily.

    python scripts/probe_recovery.py runs/ablation/offline/seed0 --samples 4 --out /tmp/recovery.json
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path
from typing import Sequence

import torch

from coso.agents.autoui import AutoUIAgent
from coso.env.factory import build_encoder, build_pool, load_tasks
from coso.rollout import collect_trajectories
from coso.seeding import EVAL
from coso.training.checkpoint import read_checkpoint
from coso.training.components import load_models


def recovery(run_dir: Path, episodes: int, samples: int, temperature: float | None) -> dict:
    """Greedy success per evaluation task and sampled success on the same tasks."""
    from omegaconf import OmegaConf

    from coso.config import RunConfig

    _, _, path = read_checkpoint(run_dir, required=("models",))
    config = OmegaConf.merge(OmegaConf.structured(RunConfig), OmegaConf.load(run_dir / "config.yaml"))
    config.train.eval_episodes = episodes
    config = OmegaConf.to_object(config)
    temperature = config.agent.temperature if temperature is None else temperature
    policy = load_models(path / "models").policy
    policy.eval()
    _, tasks = load_tasks(config)
    encoder = build_encoder(config.env)

    def run(temp: float, seed: int) -> list[bool]:
        agent = AutoUIAgent(policy, temperature=temp, max_new_tokens=config.agent.max_new_tokens,
                            generator=torch.Generator().manual_seed(seed),
                            constrained=config.agent.constrained_decoding, point_decimals=config.env.point_decimals,
                            require_typed_text=config.agent.require_typed_text)
        rollout = collect_trajectories(pool, agent, tasks, encoder, seeds=EVAL.seeds(config.seed, len(tasks)),
                                       gamma=0.5, progress=False)
        return [bool(t.success) for t in rollout.trajectories]

    with build_pool(config.env, config.seed) as pool:
        greedy = run(0.0, 0)
        sampled = [run(temperature, 1 + k) for k in range(samples)]
    per_task = [sum(s[i] for s in sampled) for i in range(len(tasks))]
    failed = [i for i, ok in enumerate(greedy) if not ok]
    solved = [i for i, ok in enumerate(greedy) if ok]

    def rate(indices: list[int]) -> float:
        return sum(per_task[i] for i in indices) / max(len(indices) * samples, 1)

    return {
        "run_dir": str(run_dir),
        "temperature": temperature,
        "samples_per_task": samples,
        "greedy_success": f"{len(solved)}/{len(tasks)}",
        "sampled_success_overall": rate(list(range(len(tasks)))),
        "sampled_success_on_greedy_failed": rate(failed),
        "sampled_success_on_greedy_solved": rate(solved),
        "greedy_failed_with_any_sampled_success": f"{sum(per_task[i] > 0 for i in failed)}/{len(failed)}",
        "greedy_failed_tasks": collections.Counter(
            f"{tasks[i].text} -> {per_task[i]}/{samples}" for i in failed).most_common(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--episodes", type=int, default=96)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--temperature", type=float, default=None, help="default: the run's rollout temperature")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    result = recovery(args.run_dir, args.episodes, args.samples, args.temperature)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
