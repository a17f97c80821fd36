"""The shared config-section builder and the decorator-filled registry."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from coso.config_mapping import dataclass_from_mapping
from coso.errors import ConfigError
from coso.registry import Registry


@dataclass(frozen=True)
class Sizes:
    width: int = 1
    height: int = 2
    names: tuple[str, ...] = ()
    seed: int = 0


def test_known_keys_build_the_dataclass_and_lists_become_tuples() -> None:
    sizes = dataclass_from_mapping(Sizes, {"width": 3, "names": ["a", "b"]}, "env.sizes", seed=7)
    assert sizes == Sizes(width=3, height=2, names=("a", "b"), seed=7)
    assert dataclass_from_mapping(Sizes, None, "env.sizes") == Sizes()


def test_unknown_key_names_the_section_and_the_close_match() -> None:
    with pytest.raises(ConfigError, match=r"env\.sizes\.widht is not a setting \(did you mean width\?\)"):
        dataclass_from_mapping(Sizes, {"widht": 3}, "env.sizes")
    with pytest.raises(ConfigError, match=r"valid keys of env\.sizes: width, height, names$"):
        dataclass_from_mapping(Sizes, {"zzz": 3}, "env.sizes", seed=1)
    with pytest.raises(ConfigError, match="must be a mapping"):
        dataclass_from_mapping(Sizes, [1, 2], "env.sizes")  # type: ignore[arg-type]


def test_registry_registers_once_and_names_what_it_holds() -> None:
    registry: Registry[str, int] = Registry("test entry", ConfigError)
    registry.register("one")(1)
    assert registry["one"] == 1 and "one" in registry and list(registry) == ["one"]
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("one")(2)
    with pytest.raises(ConfigError, match=r"no test entry is registered for 'two' \(x\); registered: 'one'"):
        registry.get("two", "(x)")
