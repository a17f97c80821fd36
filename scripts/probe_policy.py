#!/usr/bin/env python
"""Probe what a checkpoint's policy writes on the simulated phone: the learning-dynamics diagnosis.

For each decoding mode (greedy / sampled at T, free or grammar-constrained) it rolls the policy out on
the evaluation tasks and reports, with 95% Wilson intervals:

- success rate, valid-action rate per step, and the parser's invalid-reason histogram;
- per step, against the scripted expert on the very same screen: is the action type right, does a tap
  land within ``--tap-tolerance`` of the expert's point, is the typed text right;
- per-token entropy of the policy along the expert's action text at the visited screens, by grammar field
  (plan, action type, coordinates, typed text, fixed literals, EOS): which positions are uncertain.

    python scripts/probe_policy.py runs/coso_off2on/seed0 --episodes 64 --temperatures 0 1 --constrained both

Writes ``probe.json`` (and prints a markdown table) into ``--out`` (default: the checkpoint's run directory).
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from coso.actions import ActionType, parse_action
from coso.agents.autoui import AutoUIAgent
from coso.env.base import Observation
from coso.env.sim.expert import ExpertPolicy
from coso.env.factory import build_encoder, build_pool, load_tasks
from coso.env.tasks import Task
from coso.models.constrained import AutoUIGrammar
from coso.rollout import collect_trajectories
from coso.seeding import EVAL
from coso.stats import wilson_interval
from coso.training.checkpoint import read_checkpoint
from coso.training.components import load_models

FIELD_NAMES = {0: "literal", 1: "plan", 2: "literal", 3: "action_type", 4: "literal", 5: "touch_y", 6: "literal",
               7: "touch_x", 8: "literal", 9: "lift_y", 10: "literal", 11: "lift_x", 12: "literal",
               13: "typed_text", 14: "eos"}


@dataclass
class StepRecord:
    """One visited screen: what the policy wrote and what the expert would have written."""

    prompt: str
    features: np.ndarray
    policy_text: str
    expert_text: str
    task_text: str = ""


@dataclass
class ComparingAgent:
    """Acts with the policy and records, for each observation, the expert's action on the same screen."""

    agent: AutoUIAgent
    expert: ExpertPolicy
    records: list[StepRecord] = field(default_factory=list)

    def act(self, observations: Sequence[Observation], tasks: Sequence[Task]) -> list[str]:
        """The policy's texts; the expert's are kept beside them."""
        texts = self.agent.act(observations, tasks)
        expert_texts = self.expert.act(observations, tasks)
        for obs, task, text, expert_text in zip(observations, tasks, texts, expert_texts):
            self.records.append(StepRecord(obs.prompt, np.asarray(obs.image_features), text, expert_text, task.text))
        return texts


def _reason_bucket(reason: str) -> str:
    """The parser's reason with its numbers and quoted text blanked, so similar failures count together."""
    reason = re.sub(r"\[[^\]]*\]", "[…]", reason)
    reason = re.sub(r"'[^']*'", "'…'", reason)
    return re.sub(r"\d+", "N", reason)[:80]


def compare_steps(records: Sequence[StepRecord], tap_tolerance: float) -> dict[str, float]:
    """Per-step agreement with the expert: action type, tap point and typed text."""
    counts = collections.Counter()
    for record in records:
        mine, theirs = parse_action(record.policy_text).action, parse_action(record.expert_text).action
        if theirs is None:
            continue
        counts["steps"] += 1
        counts["valid"] += int(mine is not None)
        if mine is None:
            continue
        counts["type_right"] += int(mine.type == theirs.type)
        if theirs.type == ActionType.DualPoint:
            counts["expert_taps"] += 1
            if mine.type == ActionType.DualPoint:
                counts["touch_close"] += int(math.dist(mine.touch_point, theirs.touch_point) <= tap_tolerance)
        if theirs.type == ActionType.Type:
            counts["expert_types"] += 1
            counts["text_right"] += int(mine.type == ActionType.Type and mine.typed_text == theirs.typed_text)
    steps = max(counts["steps"], 1)
    return {
        "steps": counts["steps"],
        "valid_rate": counts["valid"] / steps,
        "type_agreement": counts["type_right"] / steps,
        "tap_within_tolerance": counts["touch_close"] / max(counts["expert_taps"], 1),
        "typed_text_exact": counts["text_right"] / max(counts["expert_types"], 1),
    }


def divergence_kind(policy_text: str, expert_text: str, tap_tolerance: float) -> str | None:
    """How the policy's action departs from the expert's on one screen (None: it agrees)."""
    mine, theirs = parse_action(policy_text).action, parse_action(expert_text).action
    if theirs is None:
        return None
    if mine is None:
        return "invalid"
    if mine.type != theirs.type:
        return f"type {mine.type.name} for {theirs.type.name}"
    if theirs.type == ActionType.DualPoint:
        touch_close = math.dist(mine.touch_point, theirs.touch_point) <= tap_tolerance
        lift_close = math.dist(mine.lift_point, theirs.lift_point) <= tap_tolerance
        if touch_close and lift_close:
            return None
        if touch_close:
            return "lift point off (a swipe for a tap)" if theirs.is_tap else "lift point off"
        return "tap elsewhere" if theirs.is_tap else "swipe elsewhere"
    if theirs.type == ActionType.Type and mine.typed_text != theirs.typed_text:
        return "typed text differs"
    return None


def first_divergences(records: Sequence[StepRecord], trajectories, goal_kinds: dict[str, str],
                      tap_tolerance: float) -> dict[str, dict[str, int]]:
    """For each failed episode, the first step where the policy leaves the expert's path, by goal kind."""
    by_task: dict[str, list[StepRecord]] = collections.defaultdict(list)
    for record in records:
        by_task[record.task_text].append(record)
    kinds: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    examples: list[str] = []
    for trajectory in trajectories:
        if trajectory.success:
            continue
        goal_kind = goal_kinds.get(trajectory.task, "?")
        steps = by_task.get(trajectory.task, [])[: len(trajectory.transitions)]
        found = next(((kind, r) for kind, r in ((divergence_kind(r.policy_text, r.expert_text, tap_tolerance), r)
                                                for r in steps) if kind is not None), None)
        kinds[goal_kind][found[0] if found else "never left the expert's path"] += 1
        if found and len(examples) < 12:
            mine, theirs = parse_action(found[1].policy_text).action, parse_action(found[1].expert_text).action
            detail = (f"typed {mine.typed_text!r}, expert {theirs.typed_text!r}" if found[0] == "typed text differs"
                      else f"policy {found[1].policy_text[-90:]!r}")
            examples.append(f"{trajectory.task!r}: {found[0]}: {detail}")
    result: dict = {goal: dict(counter.most_common()) for goal, counter in kinds.items()}
    result["examples"] = examples
    return result


def field_of_tokens(tokenizer, text: str) -> list[str]:
    """The grammar field each token of ``text`` (EOS appended) starts in."""
    grammar = AutoUIGrammar()
    ids = tokenizer(text)["input_ids"]
    fields = []
    state = grammar.start()
    for token_id in ids:
        if token_id == tokenizer.eos_token_id:
            fields.append("eos")
            continue
        piece = tokenizer.decode([token_id], clean_up_tokenization_spaces=False)
        first = grammar.advance(state, piece[:1]) if state is not None else None
        fields.append(FIELD_NAMES.get(first[0], "literal") if first is not None else "outside")
        state = grammar.advance(state, piece) if state is not None else None
    return fields


@torch.no_grad()
def entropy_by_field(policy, records: Sequence[StepRecord], limit: int = 256) -> dict[str, float]:
    """Mean full-vocabulary entropy of the policy at each grammar field of the expert's action text."""
    chosen = [r for r in records if parse_action(r.expert_text).valid][:limit]
    sums: dict[str, list[float]] = collections.defaultdict(list)
    for start in range(0, len(chosen), 32):
        chunk = chosen[start:start + 32]
        stats = policy.token_stats([r.prompt for r in chunk],
                                   torch.as_tensor(np.stack([r.features for r in chunk]), dtype=torch.float32),
                                   [r.expert_text for r in chunk])
        for row, record in enumerate(chunk):
            fields = field_of_tokens(policy.tokenizer, record.expert_text)
            for position, name in enumerate(fields[: stats.entropies.shape[1]]):
                sums[name].append(float(stats.entropies[row, position]))
                sums[name + ":nll"].append(float(-stats.log_probs[row, position]))
    return {name: float(np.mean(values)) for name, values in sorted(sums.items())}


def probe(run_dir: Path, episodes: int, temperatures: Sequence[float], constrained_modes: Sequence[bool],
          tap_tolerance: float, overrides: dict) -> dict:
    """Every measurement of the module docstring, for one checkpoint."""
    from omegaconf import OmegaConf

    from coso.config import RunConfig

    _, _, path = read_checkpoint(run_dir, required=("models",))
    config = OmegaConf.merge(OmegaConf.structured(RunConfig), OmegaConf.load(run_dir / "config.yaml"))
    for key, value in overrides.items():
        OmegaConf.update(config, key, value)
    config.train.eval_episodes = episodes
    config = OmegaConf.to_object(config)
    policy = load_models(path / "models").policy
    policy.eval()
    _, tasks = load_tasks(config)
    encoder = build_encoder(config.env)
    goal_kinds = {task.text: type(task.goal).kind for task in tasks}
    results: dict[str, dict] = {}
    with build_pool(config.env, config.seed) as pool:
        for constrained in constrained_modes:
            for temperature in temperatures:
                agent = AutoUIAgent(policy, temperature=temperature, max_new_tokens=config.agent.max_new_tokens,
                                    generator=torch.Generator().manual_seed(0), constrained=constrained,
                                    point_decimals=config.env.point_decimals,
                                    require_typed_text=constrained and config.agent.require_typed_text)
                comparing = ComparingAgent(agent, ExpertPolicy(point_decimals=config.env.point_decimals))
                rollout = collect_trajectories(pool, comparing, tasks, encoder, gamma=0.5, progress=False,
                                               seeds=EVAL.seeds(config.seed, len(tasks)))
                successes = sum(t.success for t in rollout.trajectories)
                steps = [tr for t in rollout.trajectories for tr in t.transitions]
                reasons = collections.Counter(_reason_bucket(parse_action(tr.action).reason)
                                              for tr in steps if not tr.valid_action)
                name = f"{'constrained' if constrained else 'free'} T={temperature:g}"
                results[name] = {
                    "episodes": len(rollout.trajectories),
                    "success_rate": successes / max(len(rollout.trajectories), 1),
                    "success_ci95": wilson_interval(successes, len(rollout.trajectories)),
                    "valid_step_rate": sum(tr.valid_action for tr in steps) / max(len(steps), 1),
                    "mean_episode_length": len(steps) / max(len(rollout.trajectories), 1),
                    "invalid_reasons": dict(reasons.most_common(8)),
                    "vs_expert": compare_steps(comparing.records, tap_tolerance),
                    "success_by_goal_kind": _success_by_goal_kind(rollout.trajectories, goal_kinds),
                    "first_divergence": first_divergences(comparing.records, rollout.trajectories, goal_kinds,
                                                          tap_tolerance),
                    "examples": [r.policy_text for r in comparing.records[:3]],
                    # per evaluation task, in order: compare two checkpoints' outcomes with --flips-against
                    "episode_successes": [bool(t.success) for t in rollout.trajectories],
                }
                if temperature == 0 and constrained == constrained_modes[0]:
                    results[name]["entropy_by_field"] = entropy_by_field(policy, comparing.records)
    return results


def _success_by_goal_kind(trajectories, goal_kinds: dict[str, str]) -> dict[str, str]:
    """successes/episodes per goal kind."""
    counts: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for trajectory in trajectories:
        entry = counts[goal_kinds.get(trajectory.task, "?")]
        entry[0] += int(trajectory.success)
        entry[1] += 1
    return {kind: f"{wins}/{total}" for kind, (wins, total) in sorted(counts.items())}


def markdown(results: dict) -> str:
    """One table row per decoding mode."""
    lines = ["| decoding | success (95% CI) | valid steps | type agrees | tap ≤ tol | text exact | top invalid reason |",
             "|---|---|---|---|---|---|---|"]
    for name, result in results.items():
        low, high = result["success_ci95"]
        vs = result["vs_expert"]
        reason = next(iter(result["invalid_reasons"]), "")
        lines.append(f"| {name} | {result['success_rate']:.1%} ({low:.1%}–{high:.1%}) | {result['valid_step_rate']:.1%} "
                     f"| {vs['type_agreement']:.1%} | {vs['tap_within_tolerance']:.1%} | {vs['typed_text_exact']:.1%} "
                     f"| {reason} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run directory (or checkpoint) written by scripts/run.py")
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.0, 1.0])
    parser.add_argument("--constrained", choices=["free", "constrained", "both"], default="both")
    parser.add_argument("--tap-tolerance", type=float, default=0.05, help="normalised distance to the expert's tap")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config overrides for the probe, e.g. env.sim.difficulty=easy")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--flips-against", type=Path, default=None, metavar="PROBE_JSON",
                        help="another checkpoint's probe.json (same tasks): count the tasks each one alone solves")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    modes = {"free": [False], "constrained": [True], "both": [False, True]}[args.constrained]
    overrides = dict(item.split("=", 1) for item in args.set)
    overrides = {key: json.loads(value) if value[:1] in "0123456789-[{tf" else value for key, value in overrides.items()}
    results = probe(args.run_dir, args.episodes, args.temperatures, modes, args.tap_tolerance, overrides)
    out = args.out or args.run_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / "probe.json").write_text(json.dumps(results, indent=2))
    print(markdown(results))
    for name, result in results.items():
        if "entropy_by_field" in result:
            print(f"\nentropy / NLL by field ({name}):",
                  json.dumps({k: round(v, 3) for k, v in result["entropy_by_field"].items()}))
        print(f"\n{name} success by goal kind: {result['success_by_goal_kind']}")
        print(f"{name} first divergence of failed episodes: {json.dumps(result['first_divergence'])}")
        print(f"{name} invalid reasons: {result['invalid_reasons']}")
        print(f"{name} examples: {result['examples'][:2]}")
    if args.flips_against is not None:
        other = json.loads(args.flips_against.read_text())
        for name, result in results.items():
            if name in other and "episode_successes" in other[name]:
                print(f"\n{name} against {args.flips_against}: {json.dumps(flips(other[name]['episode_successes'], result['episode_successes']))}")
    return 0


def flips(before: Sequence[bool], after: Sequence[bool]) -> dict[str, int]:
    """How two checkpoints' outcomes on the same evaluation tasks differ: kept, gained, lost, never solved."""
    if len(before) != len(after):
        raise ValueError(f"the two probes ran {len(before)} and {len(after)} episodes; use the same --episodes")
    pairs = list(zip(before, after))
    return {"both": sum(b and a for b, a in pairs), "gained": sum(a and not b for b, a in pairs),
            "lost": sum(b and not a for b, a in pairs), "neither": sum(not a and not b for b, a in pairs)}


if __name__ == "__main__":
    sys.exit(main())
