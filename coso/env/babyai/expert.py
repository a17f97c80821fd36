"""The scripted BabyAI expert: minigrid's BabyAI bot, read from the observation.

The bot (``minigrid.utils.baby_ai_bot.BabyAIBot``) runs beside the level in ``BabyAIEnv`` (it needs the live
grid and its own memory of what it has seen) and replans after every action actually taken; the
observation's ``state`` carries its suggestion, and this expert answers it. Noise (``noise``, a probability
per step) replaces the suggestion by a uniformly drawn action word, standing in for imperfect
demonstrations; the bot then replans from the action taken (its advising mode).
"""

from __future__ import annotations

from coso.env.babyai.env import BabyAIState
from coso.env.babyai.grammar import ACTIONS, format_answer
from coso.env.base import NoisyExpert, Observation
from coso.errors import ConfigError

FALLBACK_ACTION = "done"  # minigrid's no-op, answered when the bot gave up on a state


class BabyAIExpert(NoisyExpert):
    """minigrid's BabyAI bot as an Agent (``act``) over BabyAI observations, optionally noisy."""

    def act_one(self, observation: Observation) -> str:
        """The expert's answer (a random action word with probability ``noise``)."""
        state = observation.state
        if not isinstance(state, BabyAIState):
            raise ConfigError("the BabyAI expert needs the level's state (Observation.state); it runs only on "
                              "coso's BabyAI environments (env.domain=babyai)")
        action = state.expert_action or FALLBACK_ACTION
        if self.noise and self.rng.random() < self.noise:
            action = self.rng.choice(ACTIONS)
        return format_answer(action)
