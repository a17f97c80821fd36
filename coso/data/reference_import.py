"""Import the reference's released trajectory ``.pt`` files through a restricted loader.

The reference ``torch.save``s a Python list of trajectories, each a list of step dicts (AutoUI prompt text,
model action text, BLIP-2 image features as numpy arrays or tensors, reward, done, MC return, ...). Such a
file is a pickle, so it is read with ``torch.load(weights_only=True)``: only plain Python types, tensors and
the few numpy globals needed to rebuild numeric arrays are allowed, for that call only. Any other global (a
class, ``os.system``, ...) is refused before anything runs, with a DatasetError naming it.

Command line: ``python -m coso.data.reference_import IN.pt OUT_DIR [--gamma 0.5] [--task-set general]``
converts a file into a coso trajectory dataset.
"""

from __future__ import annotations

import argparse
import pickle
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from coso.actions import parse_action
from coso.data.dataset import save_trajectories
from coso.data.trajectory import Trajectory, Transition
from coso.errors import ConfigError, DatasetError, UserInputError, unsafe_load_reason

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct, scalar
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct, scalar  # type: ignore[no-redef]

BLIP2_FEATURE_DIM = 1408  # blip2-opt-2.7b vision feature width used by AutoUI and DigiRL

# Numeric and string dtypes whose arrays may be rebuilt; object arrays (which could hold anything) are not.
_ARRAY_DTYPE_CLASSES = [type(np.dtype(code)) for code in "?bBhHiIlLqQefdgFDGUS"]

# The numpy globals a pickled array or scalar refers to, under numpy 2 names and the numpy 1 names of
# files written before numpy 2 (the reference's era).
_NUMPY_SAFE_GLOBALS: list[Callable[..., Any] | tuple[Callable[..., Any], str]] = [
    _reconstruct,
    scalar,
    np.ndarray,
    np.dtype,
    *_ARRAY_DTYPE_CLASSES,
    (_reconstruct, "numpy.core.multiarray._reconstruct"),
    (scalar, "numpy.core.multiarray.scalar"),
]


def _global_name(entry: object) -> str:
    """The dotted name under which the unpickler looks up an allow-list entry."""
    if isinstance(entry, tuple):
        return entry[1]
    return f"{entry.__module__}.{entry.__qualname__}"  # type: ignore[attr-defined]


_ALLOWED_NAMES = {_global_name(entry) for entry in _NUMPY_SAFE_GLOBALS}
_GLOBAL_IN_MESSAGE = re.compile(r"GLOBAL ([\w.]+)")

REQUIRED_KEYS = ("observation", "action", "reward", "done", "image_features")


def _refused_globals(path: Path, message: str) -> list[str]:
    """Names of the globals in ``path`` the restricted loader refuses, found by scanning, never by running."""
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # legacy (non-zip) files cannot be scanned: fall back to the loader's message
        names = _GLOBAL_IN_MESSAGE.findall(message)
    refused = [name for name in names if name not in _ALLOWED_NAMES]
    return refused or _GLOBAL_IN_MESSAGE.findall(message)


def restricted_load(path: str | Path) -> object:
    """``torch.load`` a file allowing only plain types, tensors and numeric numpy arrays/scalars."""
    file_path = Path(path)
    if not file_path.is_file():
        raise DatasetError(f"{file_path}: no such file; check the path to the reference trajectory .pt file")
    try:
        with torch.serialization.safe_globals(_NUMPY_SAFE_GLOBALS):
            return torch.load(file_path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        refused = _refused_globals(file_path, str(error))
        if refused:
            raise DatasetError(
                f"{file_path}: refused to load: it refers to the global(s) {', '.join(refused)}, which are not "
                "plain data (only Python builtins, tensors and numeric numpy arrays are allowed); the file is "
                "not a trajectory list or is unsafe to unpickle"
            ) from None
        raise DatasetError(f"{file_path}: refused to load ({unsafe_load_reason(error)})") from None
    except Exception as error:  # a corrupt pickle stream can fail with any error inside the unpickler
        raise DatasetError(
            f"{file_path}: not a readable torch.save file ({unsafe_load_reason(error)}); check that it is one of the "
            "reference's trajectory .pt files"
        ) from None


# ------------------------------------------------------------------------------------------- conversion


@dataclass(frozen=True)
class _Where:
    """The position of a value in the imported file, for error messages."""

    path: Path
    trajectory: int
    step: int | None = None

    def key(self, key: str) -> str:
        step = f", step {self.step}" if self.step is not None else ""
        return f"{self.path}: trajectory {self.trajectory}{step}, key '{key}'"


def _as_array(value: object, where: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().to(torch.float32).cpu().numpy()
    if isinstance(value, np.ndarray) and (np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_):
        return value
    raise DatasetError(f"{where}: expected a numpy array or tensor of image features, got {type(value).__name__}")


def _to_float(value: object, where: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    if isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
        number = float(value)
        if np.isfinite(number):
            return number
    raise DatasetError(f"{where}: expected a finite number, got {value!r:.60}")


def _to_bool(value: object, where: str) -> bool:
    number = _to_float(value, where)
    if number not in (0.0, 1.0):
        raise DatasetError(f"{where}: expected a boolean (0/1, True/False), got {number}")
    return bool(number)


def _to_text(value: object, where: str) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value
    raise DatasetError(f"{where}: expected text, got {type(value).__name__}")


def _stacked_features(
    value: object, previous_screen: np.ndarray | None, where: str, feature_dim: int
) -> np.ndarray:
    """Features as float32 [2D]: a [2, D] or [2D] array as stored, or a single [D] screen stacked after
    ``previous_screen`` (after a copy of itself when there is none, before the first action)."""
    array = _as_array(value, where)
    if array.shape in ((2, feature_dim), (2 * feature_dim,)):
        return array.reshape(-1).astype(np.float32)
    if array.shape in ((feature_dim,), (1, feature_dim)):
        current = array.reshape(-1).astype(np.float32)
        return np.concatenate([current if previous_screen is None else previous_screen, current])
    raise DatasetError(
        f"{where}: image features have shape {list(array.shape)}, expected [2, {feature_dim}], "
        f"[{2 * feature_dim}] or [{feature_dim}]; pass feature_dim= if the file uses another image encoder"
    )


def _task_from_prompt(prompt: str) -> str:
    """The goal sentence of an AutoUI prompt (``... Goal: <task></s>``), or '' when absent."""
    marker = prompt.rfind("Goal:")
    if marker < 0:
        return ""
    return prompt[marker + len("Goal:"):].replace("</s>", "").strip()


def _optional(step: dict, keys: Sequence[str], default: Callable[[], object]) -> object:
    for key in keys:
        if key in step and step[key] is not None:
            return step[key]
    return default()


def _convert_trajectory(
    steps: object, index: int, path: Path, gamma: float, task_set: str, feature_dim: int
) -> Trajectory:
    where = _Where(path, index)
    if not isinstance(steps, (list, tuple)):
        raise DatasetError(f"{path}: trajectory {index} is a {type(steps).__name__}, expected a list of step dicts")
    for position, step in enumerate(steps):
        step_where = _Where(path, index, position)
        if not isinstance(step, dict):
            raise DatasetError(
                f"{path}: trajectory {index}, step {position} is a {type(step).__name__}, expected a dict"
            )
        for key in REQUIRED_KEYS:
            if key not in step or step[key] is None:
                raise DatasetError(
                    f"{step_where.key(key)}: missing required key; the file does not follow the reference's "
                    f"trajectory format (required: {', '.join(REQUIRED_KEYS)})"
                )
    features = []
    previous_screen: np.ndarray | None = None
    for position, step in enumerate(steps):
        where_features = _Where(path, index, position).key("image_features")
        stacked = _stacked_features(step["image_features"], previous_screen, where_features, feature_dim)
        features.append(stacked)
        previous_screen = stacked[feature_dim:]
    transitions = []
    for position, step in enumerate(steps):
        here = _Where(path, index, position)
        prompt = _to_text(step["observation"], here.key("observation"))
        following = steps[position + 1] if position + 1 < len(steps) else None
        next_prompt = _to_text(
            # _optional calls the default at once, inside this iteration
            _optional(step, ["next_observation"], lambda: following["observation"] if following else prompt),  # noqa: B023
            here.key("next_observation"),
        )
        if step.get("next_image_features") is not None:
            next_features = _stacked_features(
                step["next_image_features"],
                features[position][feature_dim:],
                here.key("next_image_features"),
                feature_dim,
            )
        elif following is not None:
            next_features = features[position + 1].copy()
        else:
            next_features = features[position].copy()
        action = _to_text(step["action"], here.key("action"))
        task = _to_text(_optional(step, ["task"], lambda: _task_from_prompt(prompt)), here.key("task"))  # noqa: B023
        transitions.append(
            Transition(
                task=task,
                prompt=prompt,
                action=action,
                reward=_to_float(step["reward"], here.key("reward")),
                done=_to_bool(step["done"], here.key("done")),
                image_features=features[position],
                next_prompt=next_prompt,
                next_image_features=next_features,
                mc_return=0.0,
                step=position,
                valid_action=parse_action(action).valid,
                task_set=task_set,
                screenshot_path=_to_text(
                    _optional(step, ["image_path", "screenshot_path"], str), here.key("image_path")
                ),
                next_screenshot_path=_to_text(
                    _optional(step, ["next_image_path", "next_screenshot_path"], str), here.key("next_image_path")
                ),
            )
        )
    task = transitions[0].task if transitions else ""
    trajectory = Trajectory(
        transitions=transitions,
        task=task,
        task_set=task_set,
        metadata={"imported_from": path.name, "reference_index": index},
    )
    if transitions and all("mc_return" in step and step["mc_return"] is not None for step in steps):
        for position, (transition, step) in enumerate(zip(transitions, steps)):
            transition.mc_return = _to_float(step["mc_return"], _Where(path, index, position).key("mc_return"))
    else:
        trajectory.fill_mc_returns(gamma)
    outcome = _optional(steps[0], ["trajectory_reward"], lambda: trajectory.reward) if steps else 0.0
    trajectory.success = _to_float(outcome, where.key("trajectory_reward")) > 0.0
    return trajectory


def import_reference_pt(
    path: str | Path, gamma: float = 0.5, *, task_set: str = "general", feature_dim: int = BLIP2_FEATURE_DIM
) -> list[Trajectory]:
    """Read a reference trajectory ``.pt`` file safely and convert it to coso Trajectories.

    Missing optional keys are filled (next observation/features from the following step, task from the
    prompt's goal, MC returns recomputed with ``gamma`` when any step lacks them); a missing required key
    raises DatasetError naming the trajectory, step and key.
    """
    file_path = Path(path)
    if not 0.0 <= gamma <= 1.0:
        raise ConfigError(f"gamma must be in [0, 1], got {gamma}; the reference uses 0.5")
    if feature_dim <= 0:
        raise ConfigError(f"feature_dim must be positive, got {feature_dim}; BLIP-2 features have {BLIP2_FEATURE_DIM}")
    content = restricted_load(file_path)
    if not isinstance(content, (list, tuple)):
        raise DatasetError(
            f"{file_path}: holds a {type(content).__name__}, expected a list of trajectories (lists of step dicts)"
        )
    return [
        _convert_trajectory(steps, index, file_path, gamma, task_set, feature_dim)
        for index, steps in enumerate(content)
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Convert a reference ``.pt`` file into a coso trajectory dataset directory."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("source", help="the reference's trajectory .pt file")
    parser.add_argument("target", help="the dataset directory to write")
    parser.add_argument("--gamma", type=float, default=0.5, help="discount for recomputed MC returns")
    parser.add_argument("--task-set", default="general", help="general or webshop")
    parser.add_argument("--feature-dim", type=int, default=BLIP2_FEATURE_DIM, help="image feature width D")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dataset at target")
    arguments = parser.parse_args(argv)
    try:
        trajectories = import_reference_pt(
            arguments.source, arguments.gamma, task_set=arguments.task_set, feature_dim=arguments.feature_dim
        )
        save_trajectories(
            trajectories, arguments.target, overwrite=arguments.overwrite, source=f"reference .pt {arguments.source}"
        )
    except UserInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    transitions = sum(len(trajectory) for trajectory in trajectories)
    print(f"imported {len(trajectories)} trajectories ({transitions} transitions) into {arguments.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
