"""The AutoUI agent: the policy model writing one action text per observation during rollouts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from coso.env.base import Observation
from coso.env.tasks import Task
from coso.models.constrained import AutoUIGrammar, GrammarConstraint
from coso.models.policy import Policy

_CONSTRAINTS: dict[tuple[int, int | None, bool], GrammarConstraint] = {}


def grammar_constraint(tokenizer: PreTrainedTokenizerBase, point_decimals: int | None = None,
                       require_typed_text: bool = False) -> GrammarConstraint:
    """The grammar constraint of ``tokenizer`` (coordinates with exactly ``point_decimals`` digits when given, a
    TYPE that types something under ``require_typed_text``), built once per tokenizer object and options."""
    key = (id(tokenizer), point_decimals, require_typed_text)
    constraint = _CONSTRAINTS.get(key)
    if constraint is None or constraint.tokenizer is not tokenizer:
        constraint = GrammarConstraint(tokenizer, AutoUIGrammar(exact_decimals=point_decimals,
                                                                require_typed_text=require_typed_text))
        _CONSTRAINTS[key] = constraint
    return constraint


class AutoUIAgent:
    """Samples (temperature > 0) or greedily decodes AutoUI actions from prompts and stacked screen features."""

    def __init__(self, policy: Policy, *, temperature: float, max_new_tokens: int,
                 generator: torch.Generator | None = None, batch_size: int = 16,
                 constrained: bool = False, point_decimals: int | None = None,
                 require_typed_text: bool = False) -> None:
        self.policy = policy
        self.constraint = (grammar_constraint(policy.tokenizer, point_decimals, require_typed_text)
                           if constrained else None)
        self.temperature = float(temperature)
        self.max_new_tokens = int(max_new_tokens)
        self.generator = generator
        self.batch_size = batch_size

    def act(self, observations: Sequence[Observation], tasks: Sequence[Task]) -> list[str]:
        """One action text per observation (whose stacked screen features the rollout filled in)."""
        missing = [index for index, obs in enumerate(observations) if obs.image_features is None]
        if missing:
            raise ValueError(f"AutoUIAgent.act: observations {missing} carry no image_features; "
                             "run the agent through coso.rollout.collect_trajectories, which fills them in")
        stacked = np.stack([obs.image_features for obs in observations if obs.image_features is not None])
        features = torch.as_tensor(stacked.astype(np.float32),
                                   device=self.policy.device)
        texts: list[str] = []
        for start in range(0, len(observations), self.batch_size):
            prompts = [obs.prompt for obs in observations[start:start + self.batch_size]]
            texts.extend(self.policy.generate(
                prompts, features[start:start + self.batch_size], do_sample=self.temperature > 0,
                temperature=max(self.temperature, 1e-6), max_new_tokens=self.max_new_tokens,
                generator=self.generator, constraint=self.constraint))
        return texts
