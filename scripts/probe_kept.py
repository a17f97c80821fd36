"""Probe what DigiRL's online curriculum keeps from a finished run's buffer, and the step advantages in it.

Ranks the run's buffer by (trajectory reward - V_traj) with its final trajectory critic, as the online
filter does, and reports how many kept trajectories are online and on the queries the greedy policy fails
(read from a ``scripts/probe_recovery.py`` JSON), V_traj on those queries against the others, and the
share of kept steps per action type whose binary step advantage is positive.

    python scripts/probe_kept.py runs/ablation/digirl/seed0 --failed-from /tmp/recovery.json
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
from pathlib import Path
from typing import Sequence

import torch

from coso.actions import parse_action
from coso.algorithms.digirl import step_advantage, top_fraction_mask
from coso.data.buffer import ReplayBuffer, collate_transitions
from coso.training.components import load_models

QUERY = re.compile(r"search for ['\"](.+?)['\"]")


def query_of(text: str) -> str:
    """The quoted search query of a Web Shopping task sentence (the sentence itself when it has none)."""
    match = QUERY.search(text)
    return match.group(1) if match else text


def probe(run_dir: Path, failed_queries: set[str], fraction: float, horizon: int) -> dict:
    """Kept-set composition and step advantages of the run's final buffer under its final critics."""
    models = load_models(run_dir / "checkpoint" / "models")
    buffer = ReplayBuffer.load(run_dir / "checkpoint" / "buffer", capacity=10**7)
    trajectories = [t for t in buffer.trajectories() if t.transitions]
    with torch.no_grad():
        models.trajectory_critic.eval()
        values = torch.cat([models.trajectory_critic.value(*_first_observations(trajectories[i:i + 64]))
                            for i in range(0, len(trajectories), 64)])
        rewards = torch.tensor([t.reward for t in trajectories], dtype=torch.float32)
        keep = top_fraction_mask(rewards - values, fraction)
        kept = [t for t, k in zip(trajectories, keep.tolist()) if k]
        steps = [s for t in kept for s in t.transitions]
        batch = collate_transitions(steps)
        models.step_critic.eval()
        advantages = step_advantage(models.step_critic.value(batch.prompts, batch.image_features),
                                    models.step_critic.value(batch.next_prompts, batch.next_image_features),
                                    batch.rewards, batch.mc_returns, form="reference", horizon=horizon)
    hard = [i for i, t in enumerate(trajectories) if query_of(t.task) in failed_queries]
    easy = [i for i, t in enumerate(trajectories) if query_of(t.task) not in failed_queries]
    by_type: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for step, advantage in zip(steps, advantages.tolist()):
        parsed = parse_action(step.action).action
        name = parsed.type.name if parsed else "invalid"
        by_type[name][0] += int(advantage > 0)
        by_type[name][1] += 1
    online = [t for t in trajectories if "online_iteration" in t.metadata]
    return {
        "trajectories": len(trajectories),
        "online_episodes_on_failed_queries": sum(query_of(t.task) in failed_queries for t in online),
        "online_successes_on_failed_queries": sum(query_of(t.task) in failed_queries and t.success for t in online),
        "v_traj_mean_failed_queries": float(values[hard].mean()) if hard else None,
        "v_traj_mean_other_queries": float(values[easy].mean()) if easy else None,
        "kept": len(kept),
        "kept_online": sum("online_iteration" in t.metadata for t in kept),
        "kept_on_failed_queries": sum(query_of(t.task) in failed_queries for t in kept),
        "kept_queries": collections.Counter(query_of(t.task) for t in kept).most_common(),
        "kept_steps_with_positive_advantage_by_type": {k: f"{v[0]}/{v[1]}" for k, v in by_type.items()},
    }


def _first_observations(chunk):
    batch = collate_transitions([t.transitions[0] for t in chunk])
    return batch.prompts, batch.image_features


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--failed-from", type=Path, required=True, help="a probe_recovery.py JSON")
    parser.add_argument("--fraction", type=float, default=0.1, help="the online filter's kept fraction")
    parser.add_argument("--horizon", type=int, default=20)
    args = parser.parse_args(argv)
    recovery = json.loads(args.failed_from.read_text())
    failed = {query_of(text.rsplit(" -> ", 1)[0]) for text, _ in recovery["greedy_failed_tasks"]}
    print(json.dumps(probe(args.run_dir, failed, args.fraction, args.horizon), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
