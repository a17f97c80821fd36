"""How often a run's policy typed nothing: TYPE actions with an empty text, per source of its final buffer.

    python scripts/probe_typing.py RUN_DIR [RUN_DIR ...]

For each run directory (its ``checkpoint/buffer``), prints one line per source — the offline data, then each
online iteration — with the TYPE actions written, how many typed an empty text, the episodes and their
successes, and the tasks of the episodes that typed nothing. An empty TYPE changes nothing on the screen, so a
policy that writes it once tends to write it again until the horizon (docs/learning-dynamics.md section 15).
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

from coso.actions import ActionType, parse_action
from coso.data.buffer import ReplayBuffer


def typing_by_source(run_dir: Path) -> dict[str, dict]:
    """{source: {"types", "empty", "episodes", "successes", "empty_tasks"}} of the run's final buffer."""
    buffer = ReplayBuffer.load(run_dir / "checkpoint" / "buffer")
    rows: dict[str, dict] = collections.defaultdict(
        lambda: {"types": 0, "empty": 0, "episodes": 0, "successes": 0, "empty_tasks": []})
    for trajectory in buffer.trajectories():
        iteration = trajectory.metadata.get("online_iteration")
        row = rows["offline" if iteration is None else f"online {iteration}"]
        row["episodes"] += 1
        row["successes"] += int(trajectory.success)
        typed = [parse_action(t.action).action for t in trajectory.transitions]
        typed = [action for action in typed if action is not None and action.type == ActionType.Type]
        empty = sum(not action.typed_text for action in typed)
        row["types"] += len(typed)
        row["empty"] += empty
        if empty:
            row["empty_tasks"].append(trajectory.task)
    return dict(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", type=Path)
    for run_dir in parser.parse_args().run_dirs:
        print(f"## {run_dir}")
        for source, row in typing_by_source(run_dir).items():
            tasks = "; ".join(row["empty_tasks"][:3])
            print(f"{source:>10}: {row['empty']}/{row['types']} TYPE actions empty, "
                  f"{row['successes']}/{row['episodes']} episodes succeeded" + (f" (e.g. {tasks})" if tasks else ""))


if __name__ == "__main__":
    main()
