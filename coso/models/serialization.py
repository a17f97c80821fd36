"""Saving and loading model directories: dataclass configs as JSON and weights as safetensors, written atomically.

Every model of ``coso.models`` stores a directory with ``<name>.json`` (its config), ``model.safetensors``
(its weights) and, where it has one, its tokenizer. Files are written under a temporary name and renamed,
so a crash never leaves a half-written file behind.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_model, save_model

from coso.atomic import atomic_write, atomic_write_text
from coso.config_mapping import check_value_type
from coso.errors import CheckpointError, ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

WEIGHTS_NAME = "model.safetensors"

ConfigT = TypeVar("ConfigT", bound="DataclassInstance")
ModelT = TypeVar("ModelT", bound="SavedModel")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (possibly nested) dataclass config; tuples become lists."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def config_from_dict(config_class: type[ConfigT], values: dict[str, Any], where: str) -> ConfigT:
    """Build ``config_class`` from a dict, recursing into nested dataclasses; an unknown key is a ConfigError."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping for {config_class.__name__}, got {type(values).__name__}")
    hints = typing.get_type_hints(config_class)
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown {config_class.__name__} field(s) {unknown}; valid fields are {sorted(known)}"
        )
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        field_type = hints[name]
        if dataclasses.is_dataclass(field_type) and isinstance(field_type, type) and isinstance(value, dict):
            value = config_from_dict(field_type, value, f"{where}.{name}")
        elif typing.get_origin(field_type) is tuple and isinstance(value, list):
            value = tuple(value)
        check_value_type(value, field_type, f"{where}: {name}")
        kwargs[name] = value
    return config_class(**kwargs)


def save_config(directory: str | os.PathLike, file_name: str, config: Any) -> None:
    """Write a dataclass config as ``directory/file_name`` (JSON), atomically."""
    text = json.dumps(config_to_dict(config), indent=2, sort_keys=True)
    atomic_write_text(Path(directory) / file_name, text + "\n")


def load_config(directory: str | os.PathLike, file_name: str, config_class: type[ConfigT]) -> ConfigT:
    """Read ``directory/file_name`` into ``config_class``; a missing or malformed file is a CheckpointError."""
    path = Path(directory) / file_name
    require_directory(directory, what=config_class.__name__)
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: this is not a saved {config_class.__name__} directory")
    try:
        values = json.loads(path.read_text())
    except ValueError as error:
        raise CheckpointError(f"{path} is not valid JSON ({error}); re-save the model") from error
    return config_from_dict(config_class, values, str(path))


def save_weights(directory: str | os.PathLike, module: torch.nn.Module) -> None:
    """Write a module's weights to ``directory/model.safetensors`` (shared tensors handled), atomically."""
    atomic_write(Path(directory) / WEIGHTS_NAME, lambda tmp: save_model(module, str(tmp)))


def load_weights(directory: str | os.PathLike, module: torch.nn.Module) -> None:
    """Load ``directory/model.safetensors`` into ``module`` strictly; mismatched names are a CheckpointError."""
    path = Path(directory) / WEIGHTS_NAME
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: the checkpoint has a config but no weights")
    check_weights_file(path)
    try:
        missing, unexpected = load_model(module, str(path), strict=False)
    except SafetensorError as error:
        raise CheckpointError(f"{path} is not a readable safetensors file ({error}); the checkpoint is damaged: "
                              "restore it or train again") from None
    except RuntimeError as error:  # shape mismatches
        raise CheckpointError(f"{path} does not fit the model built from its config: {error}") from error
    if missing or unexpected:
        raise CheckpointError(
            f"{path} does not match the model built from its config: "
            f"missing {preview_names(missing)}, unexpected {preview_names(unexpected)}"
        )


def check_weights_file(path: str | os.PathLike) -> None:
    """Read a safetensors file's header; a missing, empty, truncated or garbage file is a CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: the checkpoint has a config but no weights")
    try:
        with safe_open(str(path), framework="pt") as handle:
            handle.keys()
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{path} is not a readable safetensors file ({error}); the checkpoint is damaged "
                              "(an interrupted copy?): restore it or train again") from None


def require_directory(directory: str | os.PathLike, what: str) -> Path:
    """The directory as a Path; a missing one is a CheckpointError that says what was expected there."""
    path = Path(directory)
    if not path.is_dir():
        raise CheckpointError(f"{what}: directory {str(path)!r} does not exist (check the path you passed)")
    return path


def preview_names(names: typing.Sequence[str], limit: int = 8) -> str:
    """A short printable list of key names: the first ``limit`` and how many more."""
    names = list(names)
    shown = ", ".join(names[:limit]) or "none"
    return f"[{shown}]" + (f" and {len(names) - limit} more" if len(names) > limit else "")



class SavedModel(torch.nn.Module):
    """A module saved as a directory: ``CONFIG_NAME`` (its config as JSON), ``model.safetensors`` and the files
    that rebuild its architecture; the one save/load protocol of the policy, the critics and the causal model."""

    CONFIG_NAME: ClassVar[str]
    CONFIG_CLASS: ClassVar[type[Any]]  # subclasses set self.config, an instance of it

    def save_architecture(self, directory: Path) -> None:
        """Write what rebuilding the module needs besides config and weights (its tokenizer or text encoder)."""
        raise NotImplementedError

    @classmethod
    def from_saved_config(cls: type[ModelT], config: Any, directory: Path) -> ModelT:
        """The module with fresh weights, from its config and the files ``save_architecture`` wrote."""
        raise NotImplementedError

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Write the architecture files, the safetensors weights and the config JSON into ``directory``."""
        Path(directory).mkdir(parents=True, exist_ok=True)
        self.save_architecture(Path(directory))
        save_weights(directory, self)
        save_config(directory, self.CONFIG_NAME, self.config)

    @classmethod
    def from_pretrained(cls: type[ModelT], directory: str | os.PathLike) -> ModelT:
        """A module written by ``save_pretrained``; a missing or mismatched directory is a CheckpointError."""
        require_directory(directory, what=f"{cls.__name__}.from_pretrained")
        model = cls.from_saved_config(load_config(directory, cls.CONFIG_NAME, cls.CONFIG_CLASS), Path(directory))
        load_weights(directory, model)
        return model
