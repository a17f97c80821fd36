"""BabyAI as a coso environment: action words in; the agent's rendered view, the mission and a text of the view out.

``BabyAIEnv`` runs one registered BabyAI level of the ``minigrid`` package. ``reset(task, seed)`` generates the
level's grid and mission from ``seed`` (minigrid's own seeding, so a seed is a layout and a mission);
``step(text)`` parses the answer (``grammar``) and executes the action in minigrid. The observation image is
minigrid's own rendering of the agent's partial view (7 x 7 cells, RGB); the prompt states the mission and a
short text of what is in view, because the built-in policy reads images only through pixel features.

Success is minigrid's: the episode ends with reward > 0 (``1 - 0.9 * steps / max_steps``). The training
reward is the success indicator by default (DigiRL's critics read rewards as success); ``reward="game"``
gives minigrid's reward itself. Either way ``info["game_reward"]`` holds minigrid's reward. An answer that
names no action follows ``env.invalid_action``: "terminate" ends the episode, "penalize" executes nothing
(the world and minigrid's step count stay), counts the step towards the horizon and is rewarded
``-invalid_action_penalty``. The horizon is the level's ``max_steps``, or ``max_steps`` here when smaller.

Beside minigrid's level runs minigrid's BabyAI bot (``minigrid.utils.baby_ai_bot.BabyAIBot``) in its advising
mode: after every executed action it replans from the action actually taken, and the observation's ``state``
carries its suggestion, which the scripted expert (``expert``) answers with. The bot needs the live level and
its own memory of what it has seen, so it lives with the level rather than in the expert.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium
import minigrid  # noqa: F401  (registers the BabyAI levels with gymnasium)
from minigrid.envs.babyai.core import roomgrid_level
from minigrid.utils.baby_ai_bot import BabyAIBot
from PIL import Image

from coso.env.babyai.grammar import ACTIONS, BabyAIAnswer, parse_answer
from coso.env.base import Observation, StepResult
from coso.env.tasks import Goal, Task
from coso.errors import ConfigError
from coso.registry import Registry

_LOG = logging.getLogger(__name__)


def _minigrid_note(*parts: object, **_: object) -> None:
    """minigrid's level generator prints a line on stdout for every layout its rejection sampling discards: those
    lines go to the debug log instead (the name ``print`` in that one module only; redirecting stdout would not be
    safe with the env pool's threads)."""
    _LOG.debug(" ".join(str(part) for part in parts))


roomgrid_level.print = _minigrid_note  # type: ignore[attr-defined]

REWARD_MODES = ("success", "game")
TILE_PIXELS = 32  # 7 cells x 32 pixels: a 224 x 224 view, the size of Gym Cards' table


@dataclass(frozen=True)
class Level:
    """A BabyAI level coso offers: its minigrid id, its family and what its missions ask."""

    name: str
    env_id: str
    family: str
    summary: str


LEVELS: Registry[str, Level] = Registry("BabyAI level", ConfigError)
for _level in (
    Level("gotolocal", "BabyAI-GoToLocal-v0", "goto", "go to an object in one 8x8 room with 8 distractors"),
    Level("pickuploc", "BabyAI-PickupLoc-v0", "pickup",
          "pick up an object, possibly named by its place, in one room with 8 distractors"),
    Level("opendoor", "BabyAI-OpenDoor-v0", "open", "open one of the 4 doors of the agent's room, by colour or place"),
    Level("open", "BabyAI-Open-v0", "open", "open a door of a given colour somewhere in a 3x3 maze of rooms"),
    Level("putnextlocal", "BabyAI-PutNextLocal-v0", "putnext", "put an object next to another in one room"),
):
    LEVELS.register(_level.name)(_level)


@dataclass(frozen=True)
class BabyAIGoal(Goal):
    """Follow the mission of one episode of a BabyAI level (the mission comes from the episode seed)."""

    kind: ClassVar[str] = "babyai"
    level: str


@dataclass(frozen=True)
class BabyAIState:
    """What the expert reads: the mission, the agent's pose and load, and the bot's suggested action."""

    mission: str
    agent_pos: tuple[int, int]
    agent_dir: int
    carrying: str | None
    expert_action: str | None  # the bot's suggestion for this state; None when the bot gave up


def babyai_task(level: Level) -> Task:
    """The one task of a level; the seed of each episode draws its grid and mission."""
    return Task(f"follow the BabyAI {level.env_id} mission", BabyAIGoal(level.name), level.name)


def babyai_prompt(mission: str, view: str, previous: str | None) -> str:
    """The policy's prompt: the mission, the text of the view and the previous action."""
    return f"Goal: {mission} Observation: {view}. Previous action: {previous or 'None'}</s>"


def _object_name(cell: Any) -> str:
    """``red ball``, ``grey door (locked)``: an object's colour and type, and a door's state."""
    name = f"{cell.color} {cell.type}"
    if cell.type == "door":
        name += " (locked)" if cell.is_locked else (" (open)" if cell.is_open else " (closed)")
    return name


def _offset(ahead: int, right: int) -> str:
    parts = [f"{ahead} ahead"] if ahead else []
    if right:
        parts.append(f"{abs(right)} {'right' if right > 0 else 'left'}")
    return " ".join(parts)


def describe_view(level_env: Any) -> str:
    """A short text of the agent's view: what it carries, what it faces, and the visible objects with their
    offsets (cells ahead, left or right), nearest first; walls and empty floor are left out."""
    grid, visible = level_env.gen_obs_grid()
    size = level_env.agent_view_size
    me = (size // 2, size - 1)  # the agent's cell in its own view, facing up
    seen = []
    for j in range(size):
        for i in range(size):
            cell = grid.get(i, j)
            if (i, j) == me or not visible[i, j] or cell is None or cell.type in ("wall", "floor"):
                continue
            ahead, right = me[1] - j, i - me[0]
            seen.append((abs(ahead) + abs(right), ahead, right, f"{_object_name(cell)} {_offset(ahead, right)}"))
    front = grid.get(me[0], me[1] - 1)
    carrying = level_env.carrying
    parts = [f"carrying {_object_name(carrying) if carrying is not None else 'nothing'}",
             f"facing {_object_name(front) if front is not None else 'empty floor'}"]
    if seen:
        parts.append("seeing " + ", ".join(text for *_, text in sorted(seen)))
    return "; ".join(parts)


class BabyAIEnv:
    """One BabyAI level played through action words; the rendered partial view is the screenshot."""

    def __init__(self, level: Level, *, reward: str = "success", invalid_action: str = "penalize",
                 invalid_action_penalty: float = 0.0, max_steps: int = 0, tile_size: int = TILE_PIXELS) -> None:
        if reward not in REWARD_MODES:
            raise ConfigError(f"env.babyai.reward={reward!r} is not one of {REWARD_MODES}")
        if max_steps < 0:
            raise ConfigError(f"env.babyai.max_steps={max_steps} must be >= 0 (0: the level's own limit)")
        self.level = level
        self.level_env: Any = gymnasium.make(level.env_id).unwrapped
        self.reward_mode = reward
        self.invalid_action = str(invalid_action)
        self.invalid_action_penalty = float(invalid_action_penalty)
        self.max_steps_cap = int(max_steps)
        self.tile_size = int(tile_size)
        self.task: Task | None = None
        self.steps = 0
        self.done = True
        self._previous: str | None = None
        self._bot: BabyAIBot | None = None
        self._advice: str | None = None

    @property
    def horizon(self) -> int:
        """The episode's step limit: the level's ``max_steps`` (set at reset), or the cap when smaller."""
        own = int(self.level_env.max_steps)
        return min(own, self.max_steps_cap) if self.max_steps_cap else own

    def reset(self, task: Task, seed: int) -> Observation:
        """Generate the level's grid and mission from ``seed``."""
        goal = task.goal
        if not isinstance(goal, BabyAIGoal) or goal.level != self.level.name:
            raise ConfigError(f"task {task.text!r} is not a BabyAI {self.level.name} task (env.babyai.level)")
        self.task = task
        self.level_env.reset(seed=int(seed) % 2 ** 63)
        self.steps = 0
        self.done = False
        self._previous = None
        self._bot = BabyAIBot(self.level_env)
        self._advice = self._advise(None)
        return self._observe()

    def step(self, action_text: str) -> StepResult:
        """Parse one answer, execute it in minigrid, and score it by minigrid's reward."""
        if self.task is None or self.done:
            raise RuntimeError("BabyAIEnv.step called before reset() or after the episode ended")
        answer: BabyAIAnswer = parse_answer(action_text)
        self.steps += 1
        game_reward, terminated, truncated = 0.0, False, False
        if answer.index is None:
            terminated = self.invalid_action == "terminate"
        else:
            _, reward, terminated, truncated, _ = self.level_env.step(answer.index)
            game_reward = float(reward)
            self._previous = answer.action
            self._advice = self._advise(answer.index)
        success = bool(terminated) and game_reward > 0
        timeout = not terminated and (bool(truncated) or self.steps >= self.horizon)
        self.done = bool(terminated) or timeout
        if self.reward_mode == "game":
            training_reward = game_reward
        else:
            training_reward = 1.0 if success else 0.0
        if answer.index is None and self.invalid_action != "terminate":
            training_reward = -self.invalid_action_penalty
        info: dict[str, Any] = {"game_reward": game_reward, "timeout": timeout}
        if answer.index is None:
            info["invalid_reason"] = answer.reason
        return StepResult(self._observe(), training_reward, self.done, success, answer, info)

    def _advise(self, taken: int | None) -> str | None:
        """The bot's next action after ``taken`` (None at reset); a fresh bot when it fails; None when that fails."""
        for attempt in range(2):
            if self._bot is None:
                return None
            try:
                return ACTIONS[int(self._bot.replan(taken))]
            except Exception:  # the bot gives up on states it was not written for (a box opened, say)
                try:
                    self._bot = BabyAIBot(self.level_env) if attempt == 0 else None
                except Exception:
                    self._bot = None
                taken = None
        return None

    def state(self) -> BabyAIState:
        """The expert's view of the current state (a frozen record: the expert cannot change the level)."""
        env = self.level_env
        carrying = env.carrying
        return BabyAIState(str(env.mission), (int(env.agent_pos[0]), int(env.agent_pos[1])), int(env.agent_dir),
                           _object_name(carrying) if carrying is not None else None, self._advice)

    def render_view(self) -> Image.Image:
        """minigrid's rendering of the agent's partial view, as an RGB image."""
        frame = self.level_env.get_frame(highlight=True, tile_size=self.tile_size, agent_pov=True)
        return Image.fromarray(frame).convert("RGB")

    def _observe(self) -> Observation:
        assert self.task is not None
        mission = str(self.level_env.mission)
        return Observation(mission, self.render_view(), self._previous, self.steps, self.state(),
                           text_prompt=babyai_prompt(mission, describe_view(self.level_env), self._previous))

    def close(self) -> None:
        """Release minigrid's level."""
        self.level_env.close()
