"""Benchmark: rollout throughput on Ray workers (rollout.engine=ray) against the local engine, and one online
iteration's wall time with async against sync rollouts.

Every phone has an emulator's per-action latency (env.sim.faults.action_latency_s + a uniform jitter), so a
rollout waits on devices, as with real emulators, and more workers (each with ``--phones-per-worker``
phones) can scale it beyond this machine's cores. For each worker count the same kind of rollout runs:
``--waves`` waves of generated WebShop tasks, driven by the noisy demonstrator (the trainer's agent, sync
mode), timed from the first reset to the last trajectory (the workers are started before). The local
engine runs ``--phones-per-worker`` phones in the trainer's process (one machine's worth). Scaling
efficiency = throughput(N workers) / (N x throughput(1 worker)).

The iteration part runs the online DigiRL training job (tiny model) twice on 2 Ray workers, rollout.mode=sync
then async, and reads the online phases' wall seconds from each run's summary.json: with async, the workers
collect iteration i+1 with the weights of iteration i while the trainer updates.

    python benchmarks/bench_rollout_scaling.py [--workers 1,2,4,8] [--phones-per-worker 4] [--waves 2]
        [--latency 0.5] [--jitter 1.0] [--iterations 6] [--skip-iteration]

Writes benchmarks/reports/rollout_scaling.md (and .json) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import ray  # noqa: E402

from coso.config import RunConfig, check_run_config  # noqa: E402
from coso.distributed import LocalEngine, RayEngine  # noqa: E402
from coso.env.sim.expert import ExpertPolicy, NoiseConfig  # noqa: E402
from coso.env.factory import build_encoder  # noqa: E402
from coso.env.task_generator import generate_tasks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "benchmarks" / "reports"
NOISE = 0.3
TINY = ["agent.model.d_model=64", "agent.model.d_ff=128", "agent.model.num_layers=2",
        "agent.model.num_decoder_layers=2", "agent.model.num_heads=2", "agent.max_new_tokens=40"]


def config_for(workers: int, phones: int, latency: float, jitter: float, engine: str) -> RunConfig:
    """A run config with ``phones`` latency-injected phones on ``workers`` Ray workers (or the local engine)."""
    config = RunConfig()
    config.env.num_envs = phones
    config.env.max_steps_webshop = 10
    config.env.sim.faults.action_latency_s = latency
    config.env.sim.faults.action_latency_jitter_s = jitter
    config.rollout.engine = engine
    config.rollout.num_workers = workers
    config.rollout.cpus_per_worker = 0.25  # the workers wait on phones; a 2-core machine still holds 8
    check_run_config(config)
    return config


def measure(engine, config: RunConfig, episodes: int) -> dict[str, float]:
    """One timed rollout of ``episodes`` generated WebShop tasks: env steps, wall seconds, steps per second."""
    tasks = generate_tasks(episodes, seed=11, task_set="webshop")
    started = time.perf_counter()
    result = engine.collect(ExpertPolicy(NoiseConfig.from_level(NOISE), seed=0), tasks,
                            list(range(5000, 5000 + episodes)), gamma=0.9)
    wall = time.perf_counter() - started
    steps = result.stats.env_steps
    return {"episodes": episodes, "env_steps": steps, "wall_s": round(wall, 2), "steps_per_s": round(steps / wall, 3),
            "success_rate": round(result.stats.success_rate, 3), "env_failures": result.stats.env_failures}


def scaling(args: argparse.Namespace) -> dict[str, object]:
    """Throughput with each worker count, and of the local engine."""
    rows: dict[str, object] = {}
    config = config_for(1, args.phones_per_worker, args.latency, args.jitter, "local")
    encoder = build_encoder(config.env)
    local = LocalEngine(config, encoder)
    try:
        rows["local"] = measure(local, config, args.phones_per_worker * args.waves)
    finally:
        local.close()
    print("local", rows["local"], flush=True)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for workers in args.workers:
            phones = workers * args.phones_per_worker
            config = config_for(workers, phones, args.latency, args.jitter, "ray")
            engine = RayEngine(config, encoder)
            try:
                rows[str(workers)] = measure(engine, config, phones * args.waves)
            finally:
                engine.close()
            print(workers, rows[str(workers)], flush=True)
    finally:
        ray.shutdown()
    return rows


def iteration(args: argparse.Namespace, mode: str, directory: Path) -> dict[str, float]:
    """The online training job on 2 Ray workers in ``mode``; its online phases' seconds per iteration."""
    overrides = ["--config-name", "digirl_online", "scale=smoke", *TINY, f"save_path={directory / mode}",
                 "rollout.engine=ray", f"rollout.mode={mode}", "rollout.num_workers=2", "env.num_envs=4",
                 f"env.sim.faults.action_latency_s={args.latency}",
                 f"env.sim.faults.action_latency_jitter_s={args.jitter}",
                 "env.max_steps_webshop=6", f"train.online_iterations={args.iterations}", "train.rollout_size=8",
                 # the initial evaluation starts the workers, so the online phases time iterations only
                 "train.eval_initial=true", "train.eval_episodes=1", "train.sft_steps=0",
                 "train.critic_epochs=2", "train.actor_epochs=2", "logging.progress=false"]
    started = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "scripts" / "run.py"), *overrides], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    summary = json.loads((directory / mode / "summary.json").read_text())
    lines = (directory / mode / "metrics.jsonl").read_text().splitlines()
    times = [record["time"] for record in map(json.loads, lines) if record.get("phase") == "online"]
    steady = (times[-1] - times[0]) / (len(times) - 1)  # iterations 1.. (the first warms up either mode)
    phases = summary["wall_seconds"]
    online = phases.get("online_rollout", 0.0) + phases.get("online_update", 0.0)
    return {"online_rollout_s": phases.get("online_rollout", 0.0), "online_update_s": phases.get("online_update", 0.0),
            "online_s": round(online, 2), "per_iteration_s": round(online / args.iterations, 2),
            "steady_iteration_s": round(steady, 2),
            "run_wall_s": round(wall, 1)}


def report(args: argparse.Namespace, rows: dict[str, object], iterations: dict[str, dict[str, float]]) -> str:
    one = rows[str(args.workers[0])]["steps_per_s"] if str(args.workers[0]) in rows else None
    lines = ["# Rollout scaling on Ray workers", "",
             f"Command: `python benchmarks/bench_rollout_scaling.py {' '.join(sys.argv[1:])}`  ",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPUs (shared with other jobs), Python "
             f"{platform.python_version()}, Ray {ray.__version__}; a private Ray cluster on this machine.  ",
             f"Phones: simulated, {args.phones_per_worker} per worker, each action first sleeps "
             f"{args.latency} + U[0, {args.jitter}] s (env.sim.faults.action_latency_s / _jitter_s: an emulator's "
             f"latency); {args.waves} waves of generated WebShop tasks per rollout, the demonstrator (noise {NOISE}) "
             "acting from the trainer (sync mode).", "",
             "| engine | workers | phones | episodes | env steps | wall s | steps / s | x 1 worker | efficiency |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    local = rows["local"]
    lines.append(f"| local | - | {args.phones_per_worker} | {local['episodes']} | {local['env_steps']} | "
                 f"{local['wall_s']} | {local['steps_per_s']} | - | - |")
    for workers in args.workers:
        row = rows[str(workers)]
        speedup = row["steps_per_s"] / one if one else float("nan")
        lines.append(f"| ray | {workers} | {workers * args.phones_per_worker} | {row['episodes']} | {row['env_steps']} "
                     f"| {row['wall_s']} | {row['steps_per_s']} | {speedup:.2f} | {speedup / workers:.0%} |")
    if iterations:
        sync, asynchronous = iterations["sync"], iterations["async"]
        title = f"## One online iteration: async against sync ({args.iterations} iterations, 2 workers, 4 phones)"
        lines += ["", title,
                  "", "| mode | rollout s | update s | online s | mean iteration s | steady iteration s | run s |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for mode, row in iterations.items():
            lines.append(f"| {mode} | {row['online_rollout_s']} | {row['online_update_s']} | {row['online_s']} | "
                         f"{row['per_iteration_s']} | {row['steady_iteration_s']} | {row['run_wall_s']} |")
        cut = 1 - asynchronous["steady_iteration_s"] / sync["steady_iteration_s"]
        mean_cut = 1 - asynchronous["per_iteration_s"] / sync["per_iteration_s"]
        lines += ["", "rollout / update s: the online phases' totals (summary.json); steady iteration s: the time "
                  "between the first and the last online iteration's metrics, per iteration (iteration 0 has nothing "
                  "prefetched in async mode, and warms up either mode).", "",
                  f"Async against sync: {cut:+.0%} steady-state iteration wall time cut, {mean_cut:+.0%} over all "
                  "iterations. The trainer's update and the workers' generation share this machine's 2 cores here; "
                  "with workers on their own machines or devices the update and the collection do not compete."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4,8", type=lambda text: [int(x) for x in text.split(",")])
    parser.add_argument("--phones-per-worker", type=int, default=4)
    parser.add_argument("--waves", type=int, default=2)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--jitter", type=float, default=1.0)
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--skip-iteration", action="store_true")
    args = parser.parse_args()
    rows = scaling(args)
    iterations: dict[str, dict[str, float]] = {}
    if not args.skip_iteration:
        with tempfile.TemporaryDirectory(prefix="coso-bench-rollout-") as directory:
            for mode in ("sync", "async"):
                iterations[mode] = iteration(args, mode, Path(directory))
                print(mode, iterations[mode], flush=True)
    text = report(args, rows, iterations)
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "rollout_scaling.md").write_text(text)
    (REPORTS / "rollout_scaling.json").write_text(json.dumps({"scaling": rows, "iteration": iterations}, indent=2))
    print(text)


if __name__ == "__main__":
    main()
