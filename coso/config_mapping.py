"""Config sections to dataclasses: the one place that checks a section's keys and names the unknown ones.

Every part of coso that turns a config mapping (a Hydra section such as ``env.sim`` or ``agent.model``)
into its dataclass goes through ``dataclass_from_mapping``, so a mistyped key gets the same clear error
everywhere: the full dotted name of the key, the close matches, and the valid keys when nothing is close.
Kept free of heavy imports (no hydra, torch or transformers) so light modules can use it.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from coso.errors import ConfigError

D = TypeVar("D")


def _is_tuple_type(annotation: Any) -> bool:
    """True for ``tuple``, ``tuple[...]`` and ``typing.Tuple[...]``, also when written as a string annotation."""
    if isinstance(annotation, str):
        return annotation.replace(" ", "").startswith(("tuple[", "Tuple[", "typing.Tuple[")) or annotation == "tuple"
    return annotation is tuple or typing.get_origin(annotation) is tuple


def _tuple_fields(cls: type) -> set[str]:
    """Names of the fields of dataclass ``cls`` annotated as tuples (config files can only write lists)."""
    fields = dataclasses.fields(cls)
    try:
        hints: dict[str, Any] = typing.get_type_hints(cls)
    except (NameError, TypeError):  # an annotation names a type imported only for type checking
        hints = {}
    return {f.name for f in fields if _is_tuple_type(hints.get(f.name, f.type))}


def _unknown_key_message(where: str, unknown: list[str], settable: list[str]) -> str:
    """``where.key is not a setting (did you mean ...?)`` per unknown key; the valid keys if one has no match."""
    parts = []
    any_without_match = False
    for key in unknown:
        close = difflib.get_close_matches(key, settable, n=3)
        any_without_match = any_without_match or not close
        parts.append(f"{where}.{key} is not a setting" + (f" (did you mean {', '.join(close)}?)" if close else ""))
    if any_without_match:
        parts.append(f"valid keys of {where}: {', '.join(settable)}")
    return "; ".join(parts)


def _matches(value: Any, annotation: Any) -> bool:
    """Whether ``value`` fits a field annotation (int for float is fine; bool is not an int; unknown types pass)."""
    if annotation is Any or isinstance(annotation, (str, typing.TypeVar)):
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        return any(_matches(value, arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if origin in (tuple, list):
        args = [arg for arg in typing.get_args(annotation) if arg is not Ellipsis]
        return isinstance(value, (tuple, list)) and all(any(_matches(item, arg) for arg in args) or not args
                                                       for item in value)
    if origin is dict or annotation is dict:
        return isinstance(value, Mapping)
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    return True


def check_value_type(value: Any, annotation: Any, where: str) -> None:
    """ConfigError naming ``where`` when ``value`` does not fit the field's annotation (a string for an int)."""
    if not _matches(value, annotation):
        expected = getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
        raise ConfigError(f"{where} is {value!r} ({type(value).__name__}), expected {expected}; "
                          "write a value of that type")


def dataclass_from_mapping(cls: type[D], values: Mapping[str, Any] | None, where: str, **fixed: Any) -> D:
    """``cls(**values, **fixed)`` for the config section ``where``; an unknown key is a ConfigError naming it.

    Lists given to tuple-typed fields become tuples (YAML has no tuples). ``fixed`` values are set by the
    caller, override the section and are left out of the valid keys the error lists.
    """
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where} must be a mapping of {cls.__name__} settings, got {type(values).__name__}")
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = [str(key) for key in values if key not in names]
    if unknown:
        settable = [name for name in names if name not in fixed]
        raise ConfigError(_unknown_key_message(where, unknown, settable))
    tuple_fields = _tuple_fields(cls)
    merged = {key: tuple(value) if key in tuple_fields and isinstance(value, list) else value
              for key, value in values.items()}
    try:
        hints: dict[str, Any] = typing.get_type_hints(cls)
    except (NameError, TypeError):  # an annotation names a type imported only for type checking
        hints = {}
    for key, value in merged.items():
        check_value_type(value, hints.get(key, Any), f"{where}.{key}")
    merged.update(fixed)
    return cls(**merged)
