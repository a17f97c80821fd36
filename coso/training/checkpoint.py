"""Atomic training checkpoints: models, optimisers, RNG state, counters, buffer and trajectories.

A checkpoint is a directory ``<save_path>/checkpoint``. It is written to a temporary sibling and moved
into place with renames, so a crash (even SIGKILL) leaves either the previous checkpoint or the new one,
never half of one. Nothing is unpickled: tensors go through safetensors or ``torch.load(weights_only=True)``,
everything else through JSON.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from coso.atomic import atomic_write_directory
from coso.errors import CheckpointError, unsafe_load_reason

CHECKPOINT_DIRNAME = "checkpoint"
STATE_FILE = "state.json"
PHASES = ("start", "warm_started", "offline_done", "online")
CHECKPOINT_FORMAT = "coso-checkpoint"
CHECKPOINT_VERSION = 1


@dataclass
class TrainingState:
    """Counters and bookkeeping that say where a run is."""

    phase: str = "start"  # "start", "warm_started" (initial eval and SFT done), "offline_done", "online"
    online_iteration: int = 0  # online iterations completed
    env_steps: int = 0
    episodes: int = 0
    actor_updates: int = 0
    causal_calls: int = 0  # training calls of CoSo's causal model so far
    metrics_lines: int = 0  # metrics.jsonl lines written when the checkpoint was taken
    eval_results: dict[str, float] = field(default_factory=dict)
    eval_counts: dict[str, list[int]] = field(default_factory=dict)  # phase -> [successes, episodes]
    wall_seconds: dict[str, float] = field(default_factory=dict)


def capture_rng_state(generators: Mapping[str, torch.Generator] | None = None) -> dict[str, Any]:
    """Python, numpy, torch (CPU and CUDA) and the named generators' RNG states as JSON-friendly values."""
    py_state = random.getstate()
    state: dict[str, Any] = {
        "python": [py_state[0], list(py_state[1]), py_state[2]],
        "numpy": _jsonable(np.random.get_state(legacy=False)),
        "torch": torch.get_rng_state().tolist(),
        "generators": {name: generator.get_state().tolist() for name, generator in (generators or {}).items()},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [device_state.tolist() for device_state in torch.cuda.get_rng_state_all()]
    return state


def restore_rng_state(state: dict[str, Any], generators: Mapping[str, torch.Generator] | None = None) -> None:
    """Undo ``capture_rng_state``; call it last, after everything that may draw (building models, optimisers)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(state["numpy"])
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(device_state, dtype=torch.uint8) for device_state in state["cuda"]])
    saved = state.get("generators", {})
    for name, generator in (generators or {}).items():
        if name in saved:
            generator.set_state(torch.tensor(saved[name], dtype=torch.uint8))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def checkpoint_dir(save_path: Path) -> Path:
    """Where the checkpoint of a run directory lives."""
    return Path(save_path) / CHECKPOINT_DIRNAME


def has_checkpoint(save_path: Path) -> bool:
    """True when a complete checkpoint exists (also right after a crash between the two renames)."""
    target = checkpoint_dir(save_path)
    return (target / STATE_FILE).exists() or (target.with_name(f".{CHECKPOINT_DIRNAME}.old") / STATE_FILE).exists()


def write_checkpoint(save_path: Path, state: TrainingState, writers: dict[str, Callable[[Path], object]],
                     generators: Mapping[str, torch.Generator] | None = None) -> Path:
    """Write a checkpoint atomically; each writer fills its own sub-path; ``generators`` join the RNG state."""
    save_path = Path(save_path)

    def write(temporary: Path) -> None:
        for name, writer in writers.items():
            writer(temporary / name)
        document = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "state": asdict(state),
                    "rng": capture_rng_state(generators)}
        (temporary / STATE_FILE).write_text(json.dumps(document))

    return atomic_write_directory(checkpoint_dir(save_path), write, temporary=save_path / f".{CHECKPOINT_DIRNAME}.tmp",
                                  previous=save_path / f".{CHECKPOINT_DIRNAME}.old", sync=True)


def _recover(save_path: Path) -> None:
    """Finish an interrupted swap: a crash between the two renames leaves only the `.old` copy."""
    target = checkpoint_dir(save_path)
    previous = Path(save_path) / f".{CHECKPOINT_DIRNAME}.old"
    if not (target / STATE_FILE).exists() and (previous / STATE_FILE).exists():
        if target.exists():
            shutil.rmtree(target)
        os.replace(previous, target)


def read_checkpoint(path: Path, required: tuple[str, ...] = ()) -> tuple[TrainingState, dict[str, Any], Path]:
    """Read state.json of a checkpoint directory (or a run directory holding one); check required entries."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint path {path} does not exist: pass the run directory (save_path) of a "
                              "finished or interrupted run, or its 'checkpoint' sub-directory")
    if (path / CHECKPOINT_DIRNAME).is_dir() or (path / f".{CHECKPOINT_DIRNAME}.old").is_dir():
        _recover(path)
        path = path / CHECKPOINT_DIRNAME
    state_file = path / STATE_FILE
    if not state_file.exists():
        raise CheckpointError(f"{path} is not a coso checkpoint: {STATE_FILE} is missing "
                              f"(expected a directory written by a training run, containing {STATE_FILE})")
    try:
        document = json.loads(state_file.read_text())
    except ValueError as error:
        raise CheckpointError(f"{state_file} is not valid JSON ({error}); the checkpoint is damaged") from None
    if not isinstance(document, dict):
        raise CheckpointError(f"{state_file} holds a JSON {type(document).__name__}, not the checkpoint record "
                              "(an object with 'format', 'state' and 'rng'); the checkpoint is damaged")
    if document.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{state_file}: format is {document.get('format')!r}, expected {CHECKPOINT_FORMAT!r}")
    missing = [name for name in required if not (path / name).exists()]
    if missing:
        raise CheckpointError(f"checkpoint {path} is missing {', '.join(missing)}; it was not written by a "
                              "complete run of this kind (re-run training, or point load_path at another checkpoint)")
    try:
        state = TrainingState(**document["state"])
    except (TypeError, KeyError) as error:
        raise CheckpointError(f"{state_file}: the 'state' record does not match this coso version ({error})") from None
    problem = _state_problem(state)
    if problem:
        raise CheckpointError(f"{state_file}: {problem}; the checkpoint is damaged or was edited by hand")
    rng = document.get("rng", {})
    if not isinstance(rng, dict):
        raise CheckpointError(f"{state_file}: 'rng' is a {type(rng).__name__}, not an object; "
                              "the checkpoint is damaged")
    return state, rng, path


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _state_problem(state: TrainingState) -> str:
    """What is mistyped in a TrainingState read from JSON ('' when every field has its type)."""
    if state.phase not in PHASES:
        return f"state.phase is {state.phase!r}, not one of {', '.join(PHASES)}"
    for name in ("online_iteration", "env_steps", "episodes", "actor_updates", "causal_calls", "metrics_lines"):
        value = getattr(state, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return f"state.{name} is {value!r}, not a count (an integer >= 0)"
    for name in ("eval_results", "wall_seconds"):
        value = getattr(state, name)
        if not isinstance(value, dict) or not all(isinstance(k, str) and _is_number(v) for k, v in value.items()):
            return f"state.{name} is {value!r}, not an object of numbers"
    counts = state.eval_counts
    if not isinstance(counts, dict) or not all(
            isinstance(v, list) and len(v) == 2 and all(isinstance(c, int) and not isinstance(c, bool) for c in v)
            for v in counts.values()):
        return f"state.eval_counts is {counts!r}, not an object of [successes, episodes] pairs"
    return ""


def verify_checkpoint(path: Path, required: tuple[str, ...] = ()) -> TrainingState:
    """Read a checkpoint and check, without loading any model, that its weights and optimiser files are intact."""
    from coso.training.components import check_saved_models

    state, _, directory = read_checkpoint(path, required=required)
    check_saved_models(directory / "models")
    optimizers = directory / "optimizers.pt"
    if optimizers.exists():
        try:
            with zipfile.ZipFile(optimizers) as archive:
                archive.namelist()
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(optimizers))  # scans, never runs
        except Exception as error:  # a damaged archive or pickle stream can fail in many ways
            raise CheckpointError(f"{optimizers} is not a readable torch file ({unsafe_load_reason(error)}); the "
                                  "checkpoint is damaged: restore it or train again") from None
        if unsafe:
            raise CheckpointError(f"{optimizers} refers to {', '.join(unsafe[:3])}, not only tensors and plain "
                                  "values; coso never unpickles such files: restore the checkpoint or train again")
    return state


def save_tensors_state(state: dict[str, Any], path: Path) -> None:
    """Save an optimiser (or similar) state dict of tensors and plain values, loadable without unpickling."""
    torch.save(state, path)


def load_tensors_state(path: Path) -> dict[str, Any]:
    """Load what ``save_tensors_state`` wrote, refusing anything but tensors and plain types."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint file {path} is missing") from None
    except Exception as error:  # torch raises UnpicklingError and RuntimeError variants
        raise CheckpointError(f"{path} could not be read safely ({unsafe_load_reason(error)})") from None
