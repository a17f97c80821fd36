"""Evaluation: the policy on the first N evaluation tasks, on the evaluation stream's episode seeds.

Every evaluation of a training run (initial, sft, offline, iteration_N, final) and the eval run kind
(``--config-name eval_only``) go through ``evaluate`` with an agent from ``evaluation_agent``: the same tasks
(coso.env.factory.load_tasks), the same episode seeds (coso.seeding.EVAL), the evaluation temperature and a
sampling seed of the run seed plus the environment steps the policy has trained on (its checkpoint's
``env_steps``). So eval_only on a run's final checkpoint, with the run's seed and settings, scores exactly the
episodes of the run's final evaluation (tests/test_training_runs.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from coso.agents.autoui import AutoUIAgent
from coso.config import RunConfig
from coso.env.tasks import Task
from coso.models.policy import Policy
from coso.rollout import Agent
from coso.seeding import EVAL
from coso.stats import wilson_interval
from coso.training.rollouts import Rollouts, policy_agent


@dataclass(frozen=True)
class Evaluation:
    """Successes over episodes, and the rollout's numeric statistics (env_steps, invalid_actions, ...)."""

    successes: int
    episodes: int
    stats: dict[str, float]

    @property
    def success_rate(self) -> float:
        """Successes over episodes (0 without episodes)."""
        return self.successes / self.episodes if self.episodes else 0.0

    @property
    def ci95(self) -> tuple[float, float]:
        """The Wilson 95% interval of the success rate."""
        return wilson_interval(self.successes, self.episodes)

    def metrics(self, env_steps: int) -> dict[str, float]:
        """What a training run logs for an evaluation at ``env_steps`` (rollout statistics prefixed ``eval_``)."""
        low, high = self.ci95
        return {"eval_success_rate": self.success_rate, "eval_success_ci95_low": low,
                "eval_success_ci95_high": high, "env_steps": env_steps,
                **{f"eval_{k}": v for k, v in self.stats.items() if k != "success_rate"}}


def evaluation_agent(policy: Policy, config: RunConfig, env_steps: int) -> AutoUIAgent:
    """The policy as evaluated: at agent.eval_temperature, its sampling seeded by the run seed and ``env_steps``."""
    return policy_agent(policy, config, temperature=config.agent.eval_temperature, env_steps=env_steps)


def evaluate(config: RunConfig, rollouts: Rollouts, agent_factory: Callable[[], Agent], tasks: Sequence[Task],
             recorder=None) -> Evaluation:
    """Run the agent once on each evaluation task, episode ``i`` on the evaluation stream's ``i``-th seed."""
    trajectories, stats = rollouts(agent_factory, tasks, EVAL.seeds(config.seed, len(tasks)), recorder)
    return Evaluation(sum(int(t.success) for t in trajectories), len(trajectories), stats)
