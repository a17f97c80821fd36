#!/usr/bin/env python
"""Probe how fast a policy learns to imitate the demonstrator, field by field, under config variants.

Trains a fresh policy of a run config with the SFT warm start's loss (token-mean NLL of noise-free
demonstrations) and, every ``--eval-every`` steps, scores it on demonstrator steps of the held-out
evaluation tasks (teacher-forced states, so each step is judged on its own):

- per grammar field, the mean NLL of the expert's tokens (plan, action type, coordinates, typed text);
- one-step greedy agreement with the expert (constrained decoding): action type, tap within 0.05 of the
  expert's point, exact typed text, and the whole action.

    python scripts/probe_sft.py --steps 600 --set env.point_decimals=2 agent.tokenizer_word_spaces=separate

Used for the diagnosis in docs/learning-dynamics.md; prints one table row per evaluation.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from coso.actions import ActionType, parse_action
from coso.agents.autoui import grammar_constraint
from coso.algorithms.filtered_bc import filtered_bc_loss
from coso.cli import CONFIG_DIR
from coso.data.buffer import ReplayBuffer, collate_transitions
from coso.env.sim.expert import ExpertPolicy, NoiseConfig
from coso.env.factory import build_encoder, build_pool, load_tasks
from coso.rollout import collect_trajectories
from coso.training.components import build_models

sys.path.insert(0, str(Path(__file__).resolve().parent))
from probe_policy import field_of_tokens  # noqa: E402


def demonstrations(config, tasks, seed_base: int):
    """Noise-free demonstrator trajectories on ``tasks``."""
    encoder = build_encoder(config.env)
    expert = ExpertPolicy(NoiseConfig.from_level(0.0), seed=seed_base, point_decimals=config.env.point_decimals)
    with build_pool(config.env, 0) as pool:
        return collect_trajectories(pool, expert, tasks, encoder, seeds=seed_base, gamma=0.5, progress=False).trajectories


@torch.no_grad()
def score(policy, transitions, constraint) -> dict[str, float]:
    """Field NLLs and one-step greedy agreement on expert transitions."""
    policy.eval()
    nll: dict[str, list[float]] = collections.defaultdict(list)
    agree = collections.Counter()
    for start in range(0, len(transitions), 32):
        batch = collate_transitions(transitions[start:start + 32])
        stats = policy.token_stats(batch.prompts, batch.image_features, batch.actions)
        for row, action in enumerate(batch.actions):
            for position, name in enumerate(field_of_tokens(policy.tokenizer, action)[: stats.mask.shape[1]]):
                nll[name].append(float(-stats.log_probs[row, position]))
        written = policy.generate(batch.prompts, batch.image_features, do_sample=False, max_new_tokens=128,
                                  constraint=constraint)
        for text, action in zip(written, batch.actions):
            mine, theirs = parse_action(text).action, parse_action(action).action
            agree["steps"] += 1
            agree["type"] += int(mine is not None and mine.type == theirs.type)
            agree["exact"] += int(mine == theirs)
            if theirs.type == ActionType.DualPoint:
                agree["taps"] += 1
                agree["tap"] += int(mine is not None and mine.type == theirs.type
                                    and math.dist(mine.touch_point, theirs.touch_point) <= 0.05)
            if theirs.type == ActionType.Type:
                agree["types"] += 1
                agree["text"] += int(mine is not None and mine.typed_text == theirs.typed_text)
    policy.train()
    result = {f"nll_{name}": float(np.mean(values)) for name, values in nll.items() if name != "outside"}
    result.update(type_acc=agree["type"] / agree["steps"], tap_acc=agree["tap"] / max(agree["taps"], 1),
                  text_acc=agree["text"] / max(agree["types"], 1), exact=agree["exact"] / agree["steps"])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-name", default="coso_off2on")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="Hydra overrides")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--eval-every", type=int, default=200)
    parser.add_argument("--episodes", type=int, default=1024, help="demonstration episodes to train on")
    parser.add_argument("--eval-transitions", type=int, default=256)
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        cfg = compose(config_name=args.config_name, overrides=list(args.set))
    config = OmegaConf.to_object(cfg)
    torch.manual_seed(config.seed)
    train_tasks, eval_tasks = load_tasks(config)
    rng = random.Random(config.seed)
    train_data = demonstrations(config, [rng.choice(train_tasks) for _ in range(args.episodes)], 3_000_000)
    held_out = [tr for t in demonstrations(config, eval_tasks, 10_000_000) for tr in t.transitions]
    held_out = held_out[: args.eval_transitions]
    buffer = ReplayBuffer(10**6, [t for t in train_data if t.success])
    policy = build_models(config).policy
    constraint = grammar_constraint(policy.tokenizer, config.env.point_decimals)
    train = config.train
    optimizer = torch.optim.AdamW(policy.parameters(), lr=train.lm_lr, betas=(0.9, train.lm_adam_beta2))
    generator = torch.Generator().manual_seed(config.seed)
    rows = []
    started = time.perf_counter()
    for step in range(1, args.steps + 1):
        batch = buffer.sample(train.batch_size, generator)
        stats = policy(batch.prompts, batch.image_features, batch.actions)
        loss = filtered_bc_loss(stats.log_probs, stats.mask, torch.ones(len(batch), dtype=torch.bool),
                                reduction="token_mean")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if train.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(policy.parameters(), train.max_grad_norm)
        optimizer.step()
        if step % args.eval_every == 0 or step == args.steps:
            row = {"step": step, "seconds": round(time.perf_counter() - started, 1), "loss": float(loss)}
            row.update({k: round(v, 3) for k, v in score(policy, held_out, constraint).items()})
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.out:
        args.out.write_text(json.dumps({"overrides": args.set, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
