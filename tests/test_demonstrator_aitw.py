"""The noise-free expert on the real AitW task lists: it solves at least 95% of a fixed sample of the lines
that parse, each within its horizon, at the default difficulty (full-file figures: benchmarks/bench_sim.py)."""

from __future__ import annotations

from pathlib import Path

from coso.env.base import PhoneEnv
from coso.env.sim.expert import ExpertPolicy, NoiseConfig
from coso.env.sim.judge import RuleJudge
from coso.env.sim import SimConfig, SimPhone
from coso.env.task_parser import parse_task
from coso.errors import TaskParseError

SAMPLE_EVERY = 6  # every 6th line of each file: about 165 episodes


def solve_rate(aitw_dir: Path, task_set: str, file_name: str) -> tuple[int, int]:
    phone = SimPhone(SimConfig())
    env = PhoneEnv(phone, RuleJudge(phone))
    expert = ExpertPolicy(NoiseConfig(), seed=0)
    lines = [line.strip() for line in (aitw_dir / file_name).read_text().splitlines() if line.strip()]
    solved = total = 0
    for index, line in enumerate(lines[::SAMPLE_EVERY]):
        try:
            task = parse_task(line, task_set)
        except TaskParseError:
            continue
        observation = env.reset(task, seed=index)
        while True:
            result = env.step(expert.act([observation], [task])[0])
            observation = result.observation
            if result.done:
                break
        assert env.steps <= env.config.max_steps(task_set)
        solved += result.success
        total += 1
    return solved, total


def test_expert_solves_the_general_lines(aitw_dir: Path) -> None:
    solved, total = solve_rate(aitw_dir, "general", "general_train.txt")
    assert total >= 80
    assert solved >= 0.95 * total


def test_expert_solves_the_webshop_lines(aitw_dir: Path) -> None:
    solved, total = solve_rate(aitw_dir, "webshop", "webshop_train.txt")
    assert total >= 70
    assert solved >= 0.95 * total
