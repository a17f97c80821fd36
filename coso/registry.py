"""Registries filled by decorators: a key (a name or a class) maps to the one function or factory that serves it.

Modules register their implementations at import (``@SUCCESS_CHECKS.register(WebShopGoal)``), so callers
dispatch by key instead of through if/elif chains. Registering a key twice is a programming error and
fails at import; looking up a missing key raises the error class the owner chose (ConfigError for a
config value, JudgeError for a goal the judge cannot grade...) naming the registry and what it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, KeysView, MutableMapping
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


def key_label(key: Any) -> str:
    """How a key reads in messages: a class by its name, anything else by its repr."""
    return key.__name__ if isinstance(key, type) else repr(key)


def register_in(table: MutableMapping[K, V], key: K, kind: str) -> Callable[[V], V]:
    """Decorator that puts its target into ``table`` under ``key``; a key registered twice is a ValueError."""

    def register(value: V) -> V:
        if key in table:
            raise ValueError(f"{kind} for {key_label(key)} is registered twice")
        table[key] = value
        return value

    return register


class Registry(Generic[K, V]):
    """A table from key to value, filled by ``register(key)``; a missing key raises ``error`` naming ``kind``."""

    def __init__(self, kind: str, error: Callable[[str], Exception] = LookupError) -> None:
        self.kind = kind  # what one entry is, e.g. "image encoder"
        self.error = error
        self._entries: dict[K, V] = {}

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self.labels())})"

    def register(self, key: K) -> Callable[[V], V]:
        """Decorator: register the decorated function or class under ``key``, refusing a second one."""
        return register_in(self._entries, key, self.kind)

    def get(self, key: K, context: str = "") -> V:
        """The entry for ``key``; a missing key raises ``error`` naming the kind, ``context`` and the known keys."""
        if key not in self._entries:
            where = f" {context}" if context else ""
            raise self.error(
                f"no {self.kind} is registered for {key_label(key)}{where}; registered: {', '.join(self.labels())}"
            )
        return self._entries[key]

    def labels(self) -> list[str]:
        """The registered keys as they read in messages, sorted."""
        return sorted(key_label(key) for key in self._entries)

    def keys(self) -> KeysView[K]:
        """The registered keys, in registration order."""
        return self._entries.keys()

    def __getitem__(self, key: K) -> V:
        return self.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[K]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
