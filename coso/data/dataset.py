"""The on-disk trajectory dataset: a versioned, pickle-free directory of JSON lines and ``.npy`` features.

Layout of a dataset directory (documented in docs/dataset-format.md)::

    manifest.json             format name, version, counts, feature dim, creation info
    trajectories.jsonl        one line per trajectory: task, outcome, seed, metadata, transition count
    transitions.jsonl         one line per transition, in trajectory order: text, reward, flags, paths
    image_features.npy        float32 [N, 2D], row i belongs to line i of transitions.jsonl
    next_image_features.npy   float32 [N, 2D]

A dataset is written into a temporary sibling directory and renamed into place, so a crash never leaves a
half-written dataset at the target; loading validates every file and names the file, line and field of
any problem.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from coso.atomic import atomic_write_directory
from coso.data.trajectory import Trajectory, Transition
from coso.errors import DatasetError

FORMAT_NAME = "coso-trajectories"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})

MANIFEST_FILE = "manifest.json"
TRAJECTORIES_FILE = "trajectories.jsonl"
TRANSITIONS_FILE = "transitions.jsonl"
FEATURE_FILES = {"image_features": "image_features.npy", "next_image_features": "next_image_features.npy"}
FEATURE_DTYPE = np.dtype(np.float32)

_REWRITE_HINT = "re-create the dataset with coso.data.save_trajectories or fix the file by hand"


# --------------------------------------------------------------------------------------------- field types


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


# What each JSON type name accepts; the registry behind every field check of the loader.
_TYPE_CHECKS: dict[str, tuple[Callable[[object], bool], str]] = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "int": (_is_int, "an integer"),
    "count": (lambda v: _is_int(v) and v >= 0, "a non-negative integer"),
    "number": (_is_number, "a finite number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "object": (lambda v: isinstance(v, dict), "a JSON object"),
}

MANIFEST_FIELDS: dict[str, str] = {
    "format": "str",
    "version": "int",
    "num_trajectories": "count",
    "num_transitions": "count",
    "feature_dim": "count",
    "created": "object",
    "extra": "object",
}

# a record field's JSON kind, from its dataclass annotation (annotations are strings: `from __future__`)
_KIND_OF_ANNOTATION = {"str": "str", "int": "int", "float": "number", "bool": "bool", "dict[str, object]": "object"}


def _record_fields(record_class: type, skipped: Iterable[str]) -> dict[str, str]:
    """A dataclass's JSON record fields and their kinds, in declaration order, without the ``skipped`` ones."""
    leave_out = set(skipped)
    return {f.name: _KIND_OF_ANNOTATION[str(f.type)] for f in fields(record_class) if f.name not in leave_out}


# a trajectories.jsonl line: its index, the Trajectory's fields but its transitions, and their count
TRAJECTORY_FIELDS: dict[str, str] = {"index": "count", **_record_fields(Trajectory, ("transitions",)),
                                     "num_transitions": "count"}
# a transitions.jsonl line: its trajectory's index and the Transition's fields but the feature arrays (.npy files)
TRANSITION_FIELDS: dict[str, str] = {"trajectory": "count", **_record_fields(Transition, FEATURE_FILES)}


def _describe(value: object) -> str:
    text = json.dumps(value) if isinstance(value, (str, int, float, bool, type(None))) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _check_fields(record: object, spec: dict[str, str], where: str) -> dict[str, Any]:
    """Check that a parsed JSON record has every field of ``spec`` with the right type; return it."""
    if not isinstance(record, dict):
        raise DatasetError(f"{where}: expected a JSON object, got {type(record).__name__}; {_REWRITE_HINT}")
    for name, type_name in spec.items():
        if name not in record:
            expected = _TYPE_CHECKS[type_name][1]
            raise DatasetError(f"{where}: missing field '{name}' ({expected}); add it or {_REWRITE_HINT}")
        check, expected = _TYPE_CHECKS[type_name]
        if not check(record[name]):
            raise DatasetError(
                f"{where}: field '{name}' must be {expected}, got {_describe(record[name])}; "
                f"correct the value or {_REWRITE_HINT}"
            )
    return record


# ----------------------------------------------------------------------------------------------- manifest


@dataclass
class DatasetManifest:
    """The header of a dataset: what it is, how big, and who wrote it."""

    num_trajectories: int
    num_transitions: int
    feature_dim: int  # D: feature arrays are [num_transitions, 2 * D]
    created: dict[str, object] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)  # owner-specific state, e.g. a buffer's capacity
    format: str = FORMAT_NAME
    version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, object]:
        """The manifest as the JSON object written to manifest.json."""
        return {
            "format": self.format,
            "version": self.version,
            "num_trajectories": self.num_trajectories,
            "num_transitions": self.num_transitions,
            "feature_dim": self.feature_dim,
            "created": self.created,
            "extra": self.extra,
        }


def _creation_info(source: str) -> dict[str, object]:
    """Who and what wrote a dataset, for provenance."""
    try:
        from importlib.metadata import version

        coso_version = version("coso")
    except Exception:  # an uninstalled checkout still writes datasets
        coso_version = "unknown"
    return {
        "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "coso_version": coso_version,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "source": source,
    }


def _require_directory(path: Path) -> None:
    if not path.exists():
        raise DatasetError(
            f"no dataset at {path}: the directory does not exist; check the path, "
            "or write one with coso.data.save_trajectories"
        )
    if not path.is_dir():
        raise DatasetError(f"{path} is a file, but a dataset is a directory holding {MANIFEST_FILE}; check the path")


def read_manifest(path: str | Path) -> DatasetManifest:
    """Read and validate ``manifest.json`` of the dataset directory ``path``."""
    directory = Path(path)
    _require_directory(directory)
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise DatasetError(
            f"{manifest_path}: missing file; {directory} is not a coso trajectory dataset "
            "(write datasets with coso.data.save_trajectories, or import a reference .pt with "
            "coso.data.import_reference_pt)"
        )
    try:
        record = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DatasetError(f"{manifest_path}: not valid JSON ({error}); {_REWRITE_HINT}") from None
    if isinstance(record, dict) and "format" in record and record["format"] != FORMAT_NAME:
        raise DatasetError(
            f"{manifest_path}: field 'format' is {_describe(record['format'])}, expected "
            f"\"{FORMAT_NAME}\"; this directory holds something else, point to a coso trajectory dataset"
        )
    if isinstance(record, dict) and _is_int(record.get("version")) and record["version"] not in SUPPORTED_VERSIONS:
        raise DatasetError(
            f"{manifest_path}: field 'version' is {record['version']}, but this coso reads versions "
            f"{sorted(SUPPORTED_VERSIONS)}; upgrade coso to read it, or re-export the data with this version"
        )
    _check_fields(record, MANIFEST_FIELDS, str(manifest_path))
    return DatasetManifest(
        num_trajectories=record["num_trajectories"],
        num_transitions=record["num_transitions"],
        feature_dim=record["feature_dim"],
        created=record["created"],
        extra=record["extra"],
        format=record["format"],
        version=record["version"],
    )


# ---------------------------------------------------------------------------------------------- encoding


def _json_line(record: dict[str, object], where: str) -> str:
    try:
        return json.dumps(record, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise DatasetError(f"{where}: cannot be written as JSON ({error}); use finite numbers and JSON types") from None


def _feature_row(value: object, where: str, width: int | None) -> np.ndarray:
    """One transition's feature vector as float32 ``[2D]``, checked against the dataset's width."""
    array = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
    if array.ndim != 1 or array.shape[0] % 2 != 0 or (width is not None and array.shape[0] != width):
        expected = f"[{width}]" if width is not None else "[2 * D]"
        raise DatasetError(
            f"{where}: features must be a 1-D vector {expected} (previous and current screen stacked), "
            f"got shape {list(array.shape)}; give every transition features of the same even width"
        )
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise DatasetError(f"{where}: features must be real numbers, got dtype {array.dtype}")
    return array.astype(FEATURE_DTYPE, copy=False)


def _check_metadata(metadata: object, where: str) -> dict[str, object]:
    """Metadata must survive a JSON round trip unchanged, so that save -> load gives equal trajectories."""
    if not isinstance(metadata, dict):
        raise DatasetError(f"{where}: metadata must be a dict, got {type(metadata).__name__}")
    try:
        round_trip = json.loads(json.dumps(metadata, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise DatasetError(f"{where}: metadata must hold only JSON values ({error})") from None
    if round_trip != metadata:
        raise DatasetError(
            f"{where}: metadata changes in a JSON round trip (tuples become lists, non-string keys become "
            "strings); store lists and string keys"
        )
    return metadata


def _integer(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise DatasetError(f"{where}: must be an integer, got {_describe(value)}")
    return int(value)


def _real(value: object, where: str) -> float:
    """A finite float from a Python, numpy or 0-d torch number."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: must be a number, got {_describe(value)}") from None
    if isinstance(value, (str, bytes)) or not math.isfinite(number):
        raise DatasetError(f"{where}: must be a finite number, got {_describe(value)}")
    return number


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise DatasetError(f"{where}: must be a string, got {type(value).__name__}")
    return value


@dataclass
class _Encoded:
    """Everything a dataset's files hold, validated and ready to write."""

    trajectory_lines: list[str]
    transition_lines: list[str]
    features: dict[str, np.ndarray]
    feature_dim: int
    screenshot_paths: list[str]


# how a value of each record kind is checked on the way out ("count" fields are the file's own bookkeeping)
_ENCODERS: dict[str, Callable[[Any, str], object]] = {
    "str": _text,
    "int": _integer,
    "number": _real,
    "bool": lambda value, where: bool(value),
    "object": lambda value, where: _check_metadata(value, where.rpartition(" ")[0]),
}


def _encoded_fields(item: Trajectory | Transition, spec: dict[str, str], where: str) -> dict[str, object]:
    """The JSON values of a record's dataclass fields (the ``count`` fields are the caller's), checked."""
    return {name: _ENCODERS[kind](getattr(item, name), f"{where} {name}")
            for name, kind in spec.items() if kind != "count"}


def _decoded_fields(line: dict[str, Any], spec: dict[str, str]) -> dict[str, Any]:
    """A checked JSON line's dataclass fields as the dataclass takes them (numbers as float)."""
    return {name: float(line[name]) if kind == "number" else line[name]
            for name, kind in spec.items() if kind != "count"}


def _encode(trajectories: Sequence[Trajectory]) -> _Encoded:
    """Validate trajectories and turn them into JSON lines and feature arrays (nothing touches disk)."""
    trajectory_lines: list[str] = []
    transition_lines: list[str] = []
    rows: dict[str, list[np.ndarray]] = {name: [] for name in FEATURE_FILES}
    screenshots: list[str] = []
    width: int | None = None
    for index, trajectory in enumerate(trajectories):
        where = f"trajectory {index}"
        if not isinstance(trajectory, Trajectory):
            raise DatasetError(f"{where}: expected a coso Trajectory, got {type(trajectory).__name__}")
        trajectory_record = {"index": index, **_encoded_fields(trajectory, TRAJECTORY_FIELDS, where),
                             "num_transitions": len(trajectory.transitions)}
        trajectory_lines.append(_json_line(trajectory_record, where))
        for position, transition in enumerate(trajectory.transitions):
            step_where = f"trajectory {index} transition {position}"
            record = {"trajectory": index, **_encoded_fields(transition, TRANSITION_FIELDS, step_where)}
            transition_lines.append(_json_line(record, step_where))
            for name in FEATURE_FILES:
                row = _feature_row(getattr(transition, name), f"{step_where} {name}", width)
                width = row.shape[0]
                rows[name].append(row)
            screenshots.extend(p for p in (transition.screenshot_path, transition.next_screenshot_path) if p)
    width = width or 0
    features = {
        name: np.stack(values).astype(FEATURE_DTYPE, copy=False) if values else np.zeros((0, width), FEATURE_DTYPE)
        for name, values in rows.items()
    }
    return _Encoded(trajectory_lines, transition_lines, features, width // 2, screenshots)


# ----------------------------------------------------------------------------------------------- writing


def _write_text(path: Path, lines: Iterable[str]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line)
            handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


def _write_array(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())


def _safe_relative(path_text: str, where: str) -> Path:
    """A screenshot path must stay inside the dataset directory."""
    relative = Path(path_text)
    if relative.is_absolute() or ".." in relative.parts:
        raise DatasetError(
            f"{where}: screenshot path {path_text!r} must be relative to the dataset directory "
            "without '..'; store paths relative to screenshot_root"
        )
    return relative


def _copy_screenshots(paths: Sequence[str], source_root: Path, target_root: Path) -> None:
    for path_text in dict.fromkeys(paths):
        relative = _safe_relative(path_text, "screenshot")
        source = source_root / relative
        if not source.is_file():
            raise DatasetError(f"screenshot {source} does not exist; check screenshot_root or the transition's path")
        destination = target_root / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)


def save_trajectories(
    trajectories: Sequence[Trajectory],
    path: str | Path,
    *,
    overwrite: bool = False,
    screenshot_root: str | Path | None = None,
    source: str = "",
    extra: dict[str, object] | None = None,
) -> Path:
    """Write trajectories as a dataset directory at ``path``, atomically; return the path.

    ``screenshot_root``: when given, every screenshot path is read relative to it and the PNGs are copied
    into the dataset (same relative paths). ``extra`` is stored in the manifest for the dataset's owner.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise DatasetError(
            f"{target} already exists; pass overwrite=True to replace it, or choose another path"
        )
    if target.exists() and not (target / MANIFEST_FILE).is_file():
        raise DatasetError(
            f"{target} exists but is not a coso dataset; refusing to replace it, choose another path"
        )
    encoded = _encode(list(trajectories))
    manifest = DatasetManifest(
        num_trajectories=len(encoded.trajectory_lines),
        num_transitions=len(encoded.transition_lines),
        feature_dim=encoded.feature_dim,
        created=_creation_info(source),
        extra=dict(extra or {}),
    )
    manifest_text = _json_line(manifest.to_json(), "manifest extra")

    def write(temporary: Path) -> None:
        _write_text(temporary / TRAJECTORIES_FILE, encoded.trajectory_lines)
        _write_text(temporary / TRANSITIONS_FILE, encoded.transition_lines)
        for name, file_name in FEATURE_FILES.items():
            _write_array(temporary / file_name, encoded.features[name])
        if screenshot_root is not None:
            _copy_screenshots(encoded.screenshot_paths, Path(screenshot_root), temporary)
        _write_text(temporary / MANIFEST_FILE, [manifest_text])  # last: its presence marks a complete dataset

    atomic_write_directory(target, write)
    return target


# ----------------------------------------------------------------------------------------------- reading


def _read_jsonl(path: Path, spec: dict[str, str]) -> list[dict[str, Any]]:
    """Parse a JSON-lines file and check each line against ``spec``; errors name file and line."""
    if not path.is_file():
        raise DatasetError(f"{path}: missing file; the dataset is incomplete, {_REWRITE_HINT}")
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            where = f"{path}: line {number}"
            if not line.strip():
                raise DatasetError(f"{where}: empty line; remove it or {_REWRITE_HINT}")
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DatasetError(f"{where}: not valid JSON ({error.msg}); {_REWRITE_HINT}") from None
            records.append(_check_fields(record, spec, where))
    return records


def _check_count(path: Path, found: int, manifest: DatasetManifest, field_name: str) -> None:
    expected = getattr(manifest, field_name)
    if found != expected:
        raise DatasetError(
            f"{path}: has {found} lines, but {MANIFEST_FILE} field '{field_name}' says {expected}; "
            f"the dataset is inconsistent, {_REWRITE_HINT}"
        )


def _load_features(directory: Path, name: str, manifest: DatasetManifest) -> np.ndarray:
    path = directory / FEATURE_FILES[name]
    if not path.is_file():
        raise DatasetError(f"{path}: missing file (feature array '{name}'); {_REWRITE_HINT}")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise DatasetError(
            f"{path}: feature array '{name}' is not a plain .npy array ({error}); save it with "
            "numpy.save(..., allow_pickle=False) as float32, or re-create the dataset"
        ) from None
    expected_shape = (manifest.num_transitions, 2 * manifest.feature_dim)
    if array.dtype != FEATURE_DTYPE:
        raise DatasetError(
            f"{path}: feature array '{name}' has dtype {array.dtype}, expected float32; "
            "convert it with array.astype(numpy.float32)"
        )
    if array.shape != expected_shape:
        raise DatasetError(
            f"{path}: feature array '{name}' has shape {list(array.shape)}, expected {list(expected_shape)} "
            f"(rows = manifest 'num_transitions', columns = 2 x manifest 'feature_dim'); {_REWRITE_HINT}"
        )
    return array


def _check_structure(
    directory: Path, trajectory_records: list[dict[str, Any]], transition_records: list[dict[str, Any]]
) -> None:
    """Trajectory indices must be 0..n-1 in order and transitions must come grouped in that order."""
    trajectories_path = directory / TRAJECTORIES_FILE
    for number, record in enumerate(trajectory_records):
        if record["index"] != number:
            raise DatasetError(
                f"{trajectories_path}: line {number + 1}: field 'index' is {record['index']}, expected {number} "
                "(trajectories are numbered from 0 in file order)"
            )
    transitions_path = directory / TRANSITIONS_FILE
    declared = sum(record["num_transitions"] for record in trajectory_records)
    if declared != len(transition_records):
        raise DatasetError(
            f"{trajectories_path}: the 'num_transitions' fields add up to {declared}, but {transitions_path} "
            f"has {len(transition_records)} lines; {_REWRITE_HINT}"
        )
    owner = 0
    remaining = trajectory_records[0]["num_transitions"] if trajectory_records else 0
    for number, record in enumerate(transition_records):
        while remaining == 0 and owner + 1 < len(trajectory_records):
            owner += 1
            remaining = trajectory_records[owner]["num_transitions"]
        if record["trajectory"] != owner:
            raise DatasetError(
                f"{transitions_path}: line {number + 1}: field 'trajectory' is {record['trajectory']}, expected "
                f"{owner}: transitions must be grouped by trajectory in order, with counts matching "
                f"'num_transitions' in {TRAJECTORIES_FILE}"
            )
        remaining -= 1


def _check_screenshot_files(directory: Path, transition_records: list[dict[str, Any]]) -> None:
    transitions_path = directory / TRANSITIONS_FILE
    for number, record in enumerate(transition_records, start=1):
        for name in ("screenshot_path", "next_screenshot_path"):
            where = f"{transitions_path}: line {number}: field '{name}'"
            if record[name] and not (directory / _safe_relative(record[name], where)).is_file():
                raise DatasetError(
                    f"{where}: {directory / record[name]} does not exist; restore the PNG or clear the path"
                )


def load_trajectories(path: str | Path, *, check_screenshots: bool = False) -> list[Trajectory]:
    """Read and validate a dataset directory into trajectories (features as float32 rows of shared arrays)."""
    directory = Path(path)
    manifest = read_manifest(directory)
    trajectory_records = _read_jsonl(directory / TRAJECTORIES_FILE, TRAJECTORY_FIELDS)
    _check_count(directory / TRAJECTORIES_FILE, len(trajectory_records), manifest, "num_trajectories")
    transition_records = _read_jsonl(directory / TRANSITIONS_FILE, TRANSITION_FIELDS)
    _check_count(directory / TRANSITIONS_FILE, len(transition_records), manifest, "num_transitions")
    _check_structure(directory, trajectory_records, transition_records)
    if check_screenshots:
        _check_screenshot_files(directory, transition_records)
    features = {name: _load_features(directory, name, manifest) for name in FEATURE_FILES}

    trajectories = []
    row = 0
    for record in trajectory_records:
        transitions = []
        for _ in range(record["num_transitions"]):
            line = transition_records[row]
            transitions.append(Transition(**_decoded_fields(line, TRANSITION_FIELDS),
                                          **{name: features[name][row] for name in FEATURE_FILES}))
            row += 1
        trajectories.append(
            Trajectory(transitions=transitions, **_decoded_fields(record, TRAJECTORY_FIELDS))
        )
    return trajectories


def load_datasets(paths: Sequence[str | Path], *, check_screenshots: bool = False) -> list[Trajectory]:
    """Load several datasets and concatenate them in order; their feature dims must agree."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise DatasetError("load_datasets: no dataset paths given; pass at least one dataset directory")
    combined: list[Trajectory] = []
    first_dim: tuple[Path, int] | None = None
    for path in paths:
        manifest = read_manifest(path)
        if manifest.num_transitions > 0:
            if first_dim is not None and first_dim[1] != manifest.feature_dim:
                raise DatasetError(
                    f"{Path(path) / MANIFEST_FILE}: field 'feature_dim' is {manifest.feature_dim}, but "
                    f"{first_dim[0] / MANIFEST_FILE} has {first_dim[1]}; datasets built with different image "
                    "encoders cannot be mixed"
                )
            first_dim = first_dim or (Path(path), manifest.feature_dim)
        combined.extend(load_trajectories(path, check_screenshots=check_screenshots))
    return combined


def dataset_summary(path: str | Path) -> dict[str, object]:
    """Counts and outcome statistics of a dataset, read without loading its feature arrays."""
    directory = Path(path)
    manifest = read_manifest(directory)
    records = _read_jsonl(directory / TRAJECTORIES_FILE, TRAJECTORY_FIELDS)
    _check_count(directory / TRAJECTORIES_FILE, len(records), manifest, "num_trajectories")
    lengths = [record["num_transitions"] for record in records]
    task_sets: dict[str, int] = {}
    for record in records:
        task_sets[record["task_set"]] = task_sets.get(record["task_set"], 0) + 1
    count = len(records)
    return {
        "path": str(directory),
        "format": manifest.format,
        "version": manifest.version,
        "num_trajectories": manifest.num_trajectories,
        "num_transitions": manifest.num_transitions,
        "feature_dim": manifest.feature_dim,
        "num_tasks": len({record["task"] for record in records}),
        "task_sets": dict(sorted(task_sets.items())),
        "success_rate": sum(record["success"] for record in records) / count if count else 0.0,
        "env_failures": sum(record["env_failed"] for record in records),
        "mean_length": sum(lengths) / count if count else 0.0,
        "max_length": max(lengths, default=0),
        "created": manifest.created,
    }
