#!/usr/bin/env python
"""Measure the scripted MiniWoB++ expert: its success on seeded episodes of each click task, in a headless Chromium.

One browser per task, episodes seeded ``--first-seed`` .. ``--first-seed + --episodes - 1``; success is the page's
raw reward > 0 (coso.env.miniwob.env). Prints one line per task and, with ``--json``, writes the counts.

    nice -n 19 python scripts/miniwob_expert.py --episodes 50 --json runs/miniwob_expert.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from coso.env.miniwob.env import MINIWOB_CLICK_TASKS, MiniWoBEnv, miniwob_task
from coso.env.miniwob.expert import MiniWoBExpert


def expert_successes(task: str, episodes: int, first_seed: int = 0, max_steps: int = 20,
                     time_limit_s: float = 0.0) -> int:
    """How many of ``episodes`` seeded episodes of ``task`` the expert solves (one browser; ``time_limit_s`` > 0
    replaces the task's own clock, to tell the planner's failures from a loaded machine's slowness)."""
    env = MiniWoBEnv(task, max_steps=max_steps, time_limit_s=time_limit_s)
    expert = MiniWoBExpert(task)
    solved = 0
    try:
        for seed in range(first_seed, first_seed + episodes):
            observation = env.reset(miniwob_task(task), seed)
            while True:
                result = env.step(expert.act_one(observation))
                observation = result.observation
                if result.done:
                    solved += int(result.success)
                    break
    finally:
        env.close()
    return solved


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--tasks", nargs="+", default=list(MINIWOB_CLICK_TASKS))
    parser.add_argument("--time-limit-s", type=float, default=0.0,
                        help="replace the tasks' own episode clock (0: keep it, as the benchmark does)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    counts = {}
    for task in args.tasks:
        start = time.monotonic()
        counts[task] = expert_successes(task, args.episodes, args.first_seed, time_limit_s=args.time_limit_s)
        print(f"{task:28s} {counts[task]:4d}/{args.episodes}  ({time.monotonic() - start:.1f} s)", flush=True)
    total = sum(counts.values())
    print(f"{'all':28s} {total:4d}/{args.episodes * len(counts)} = {total / (args.episodes * len(counts)):.1%}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"episodes": args.episodes, "first_seed": args.first_seed,
                                         "time_limit_s": args.time_limit_s, "successes": counts}, indent=1) + "\n",
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
