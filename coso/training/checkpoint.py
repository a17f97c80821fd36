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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from coso.errors import CheckpointError

CHECKPOINT_DIRNAME = "checkpoint"
STATE_FILE = "state.json"
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


def write_checkpoint(save_path: Path, state: TrainingState, writers: dict[str, Callable[[Path], None]],
                     generators: Mapping[str, torch.Generator] | None = None) -> Path:
    """Write a checkpoint atomically; each writer fills its own sub-path; ``generators`` join the RNG state."""
    save_path = Path(save_path)
    target = checkpoint_dir(save_path)
    temporary = save_path / f".{CHECKPOINT_DIRNAME}.tmp"
    previous = save_path / f".{CHECKPOINT_DIRNAME}.old"
    if temporary.exists():
        shutil.rmtree(temporary)
    temporary.mkdir(parents=True)
    for name, writer in writers.items():
        writer(temporary / name)
    document = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "state": asdict(state),
                "rng": capture_rng_state(generators)}
    (temporary / STATE_FILE).write_text(json.dumps(document))
    _fsync_tree(temporary)
    if previous.exists():
        shutil.rmtree(previous)
    if target.exists():
        os.replace(target, previous)
    os.replace(temporary, target)
    if previous.exists():
        shutil.rmtree(previous)
    return target


def _fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())


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
    return state, document.get("rng", {}), path


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
        raise CheckpointError(f"{path} could not be read safely ({type(error).__name__}: {error})") from None
