"""The BabyAI expert (minigrid's BabyAI bot through ``BabyAIEnv``): its success per level, its episode lengths,
and the time of an environment step with and without the bot's planning.

Plays ``--seeds`` noise-free expert episodes per level (episode seeds 10,000 onwards, the tests' seeds) at each
level's own step limit and prints one line per level: solved / episodes with the 95% Wilson interval, the
mean and largest number of steps, the level's step limit, and milliseconds per step (rendering, view text
and the bot together) next to the bot's share.

    python benchmarks/bench_babyai_expert.py [--seeds 200] [--levels gotolocal open ...]
"""

from __future__ import annotations

import argparse
import math
import time

from coso.env.babyai.env import LEVELS, BabyAIEnv, babyai_task
from coso.env.babyai.expert import BabyAIExpert


def wilson(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a success rate."""
    rate = successes / total
    centre = (rate + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(rate * (1 - rate) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return centre - half, centre + half


def measure(name: str, seeds: int) -> str:
    env, expert = BabyAIEnv(LEVELS.get(name)), BabyAIExpert()
    advise = env._advise
    bot_time = 0.0

    def timed_advise(taken: int | None) -> str | None:
        nonlocal bot_time
        start = time.perf_counter()
        try:
            return advise(taken)
        finally:
            bot_time += time.perf_counter() - start

    env._advise = timed_advise  # type: ignore[method-assign]
    solved, lengths, limits = 0, [], set()
    start = time.perf_counter()
    for seed in range(10_000, 10_000 + seeds):
        observation = env.reset(babyai_task(env.level), seed)
        limits.add(env.horizon)
        steps = 0
        while True:
            result = env.step(expert.act_one(observation))
            steps += 1
            observation = result.observation
            if result.done:
                break
        solved += int(result.success)
        lengths.append(steps)
    elapsed = time.perf_counter() - start
    low, high = wilson(solved, seeds)
    total_steps = sum(lengths)
    return (f"{name:13s} {LEVELS.get(name).env_id:24s} solved {solved}/{seeds} ({solved / seeds:.1%}, 95% CI "
            f"{low:.1%}-{high:.1%}); steps mean {total_steps / seeds:.1f}, max {max(lengths)}, limit "
            f"{'/'.join(str(limit) for limit in sorted(limits))}; {1000 * elapsed / total_steps:.2f} ms/step "
            f"(bot {1000 * bot_time / total_steps:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--levels", nargs="*", default=list(LEVELS))
    args = parser.parse_args()
    for name in args.levels:
        print(measure(name, args.seeds), flush=True)


if __name__ == "__main__":
    main()
