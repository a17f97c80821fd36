"""Bounded exponential backoff, shared by emulator restarts, the Gemini judge and the remote agent."""

from __future__ import annotations

from dataclasses import dataclass

from coso.errors import ConfigError


@dataclass(frozen=True)
class Backoff:
    """Waits ``base_s * factor**attempt`` seconds before retry ``attempt + 1``, capped at ``max_s``."""

    base_s: float = 1.0
    factor: float = 2.0
    max_s: float = 60.0

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.max_s < 0 or self.factor < 1:
            raise ConfigError(
                f"backoff needs base_s >= 0, max_s >= 0 and factor >= 1; got base_s={self.base_s}, "
                f"factor={self.factor}, max_s={self.max_s}"
            )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        return min(self.max_s, self.base_s * self.factor ** max(0, attempt))
