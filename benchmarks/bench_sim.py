"""Benchmark of the simulated phone: environment steps per second on one core, expert-driven.

Runs one noise-free expert episode per line of the AitW task lists that parses (General and Web
Shopping, ``coso.env.task_parser``) through ``PhoneEnv(SimPhone, RuleJudge)`` at the default resolution
and difficulty, and times each part of a step in the same run: the device action plus layout, the
screenshot render, the judge, the image features (``coso.env.features`` pixel-projection encoder, when
present) and the expert's planning. Also reports the expert's solve rate per task file. Writes
``benchmarks/reports/sim.md`` and ``sim.json`` and prints them.

    python benchmarks/bench_sim.py [--episodes N (default: every line)] [--target 100] [--difficulty medium]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from coso.actions import parse_action  # noqa: E402
from coso.env.base import Observation, PhoneEnv, execute_action  # noqa: E402
from coso.env.sim.expert import ExpertPolicy, NoiseConfig  # noqa: E402
from coso.env.sim.judge import RuleJudge  # noqa: E402
from coso.env.sim import SimConfig, SimPhone  # noqa: E402
from coso.env.sim.render import TEXT_CACHE  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "aitw"
REPORTS = ROOT / "benchmarks" / "reports"


def load_tasks(episodes: int | None) -> tuple[list, dict[str, int]]:
    """The AitW General and Web Shopping lines that parse (an even sample of ``episodes`` of them when given),
    and how many lines each file has."""
    from coso.env.task_parser import parse_task
    from coso.errors import TaskParseError

    tasks, line_counts = [], {}
    for task_set, name in (("general", "general_train.txt"), ("webshop", "webshop_train.txt")):
        lines = [line.strip() for line in (DATA / name).read_text().splitlines() if line.strip()]
        line_counts[task_set] = len(lines)
        step = max(1, (2 * len(lines)) // episodes) if episodes else 1
        for line in lines[::step]:
            try:
                tasks.append(parse_task(line, task_set))
            except TaskParseError:
                continue
    return (tasks[:episodes] if episodes else tasks), line_counts


def image_encoder():
    """The pixel-projection encoder of ``coso.env.features`` if that module exists, else None."""
    try:
        from coso.env.features import build_image_encoder
    except ImportError:
        return None
    return build_image_encoder("pixel_projection")


def run(episodes: int | None, seed: int, difficulty: str = SimConfig.difficulty) -> dict:
    """Time expert-driven episodes part by part; returns the measurements."""
    config = SimConfig(difficulty=difficulty)
    phone = SimPhone(config)
    env = PhoneEnv(phone, RuleJudge(phone))
    expert = ExpertPolicy(NoiseConfig(), seed=seed)
    encoder = image_encoder()
    tasks, line_counts = load_tasks(episodes)
    per_set = {task_set: {"lines": count, "episodes": 0, "solved": 0} for task_set, count in line_counts.items()}
    timers = {"action_and_layout": 0.0, "render": 0.0, "judge": 0.0, "features": 0.0, "expert": 0.0, "reset": 0.0}
    steps = successes = 0
    clock = time.perf_counter
    wall_start = clock()
    for index, task in enumerate(tasks):
        start = clock()
        observation = env.reset(task, seed=seed + index)
        timers["reset"] += clock() - start
        if encoder is not None:
            start = clock()
            encoder.encode([observation.screenshot])
            timers["features"] += clock() - start
        done = False
        while not done:
            start = clock()
            text = expert.act([observation], [task])[0]
            timers["expert"] += clock() - start
            # PhoneEnv.step, split into its parts so each can be timed.
            start = clock()
            parsed = parse_action(text)
            assert parsed.action is not None
            execute_action(phone, parsed.action)
            phone.screen()
            timers["action_and_layout"] += clock() - start
            start = clock()
            screenshot = phone.screenshot()
            timers["render"] += clock() - start
            start = clock()
            success = env.judge.is_success(task, screenshot, parsed.action)
            timers["judge"] += clock() - start
            if encoder is not None:
                start = clock()
                encoder.encode([screenshot])
                timers["features"] += clock() - start
            steps += 1
            env.steps += 1
            done = success or parsed.action.ends_episode or env.steps >= env.config.max_steps(task.task_set)
            observation = Observation(task.text, screenshot, text, env.steps, phone.privileged_state())
        successes += int(success)
        per_set[task.task_set]["episodes"] += 1
        per_set[task.task_set]["solved"] += int(success)
    wall = clock() - wall_start
    env_seconds = timers["action_and_layout"] + timers["render"] + timers["judge"] + timers["features"]
    return {
        "episodes": len(tasks),
        "steps": steps,
        "successes": successes,
        "solve_rate": {name: {**entry, "rate": round(entry["solved"] / max(1, entry["episodes"]), 4)}
                       for name, entry in per_set.items()},
        "resolution": f"{config.width}x{config.height}",
        "difficulty": config.difficulty,
        "image_features": encoder is not None,
        "seconds": {name: round(value, 4) for name, value in timers.items()},
        "ms_per_step": {name: round(1000 * value / max(1, steps), 3) for name, value in timers.items()},
        "env_steps_per_s": round(steps / env_seconds, 1),
        "env_steps_per_s_without_features": round(
            steps / (env_seconds - timers["features"]), 1),
        "end_to_end_steps_per_s": round(steps / wall, 1),
        "cached_texts": len(TEXT_CACHE.masks),
    }


def report(result: dict, target: float) -> str:
    """The markdown report."""
    ratio = result["env_steps_per_s"] / target
    lines = [
        "# Simulated phone benchmark",
        "",
        f"One core (torch threads = {torch.get_num_threads()}, BLAS threads = 1), {platform.python_implementation()} "
        f"{platform.python_version()}, {result['resolution']}, difficulty {result['difficulty']}, "
        f"{result['episodes']} noise-free expert episodes on AitW task lines ({result['steps']} steps, "
        f"{result['successes']} successes).",
        "",
        "| measure | value |",
        "|---|---|",
        f"| environment steps/s (action + layout + render + judge + image features) | {result['env_steps_per_s']} |",
        f"| environment steps/s without image features | {result['env_steps_per_s_without_features']} |",
        f"| end-to-end steps/s (also expert planning and resets) | {result['end_to_end_steps_per_s']} |",
        f"| target (environment steps/s) | {target:g} |",
        f"| ratio measured / target | {ratio:.2f} ({'meets' if ratio >= 1 else 'MISSES'} the target) |",
        "",
        "Time per step, by part (ms):",
        "",
        "| part | ms/step |",
        "|---|---|",
    ]
    lines += [f"| {name} | {value} |" for name, value in result["ms_per_step"].items()]
    lines += [
        "",
        "Noise-free expert on the AitW lines that parse (one episode each, seeds from 0, horizons 10 / 20):",
        "",
        "| task file | lines | parsed episodes | solved | rate |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {name}_train.txt | {entry['lines']} | {entry['episodes']} | {entry['solved']} | {entry['rate']:.3f} |"
              for name, entry in result["solve_rate"].items()]
    lines += ["", f"Image features: {'pixel_projection encoder' if result['image_features'] else 'not available'}.", ""]
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark and write the reports."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=None, help="an even sample of this many lines (default: all)")
    parser.add_argument("--target", type=float, default=100.0, help="required environment steps per second")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--difficulty", default=SimConfig.difficulty, help="easy, medium (default), hard or 0..1")
    parser.add_argument("--report-name", default="sim", help="writes benchmarks/reports/<name>.md and .json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    result = run(args.episodes, args.seed, args.difficulty)
    result["target_steps_per_s"] = args.target
    text = report(result, args.target)
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / f"{args.report_name}.md").write_text(text)
    (REPORTS / f"{args.report_name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
