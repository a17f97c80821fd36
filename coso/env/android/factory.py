"""The ``env.backend=android`` environment factory: emulator slots (or attached Appium servers) judged by Gemini.

Slot ``i`` drives emulator instance ``i`` of one shared ``EmulatorFleet``; the emulator boots the first
time its slot is built and is restarted when a previous device of the slot failed. With
``env.android.attach_urls`` no emulator is started: slot ``i`` opens a session on the i-th running
Appium server (real phones, a device farm, or ``SimWebDriverServer``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from coso.env.android.appium_device import AppiumDevice
from coso.env.android.emulator import EmulatorFleet
from coso.env.android.emulator_device import AndroidSettings, EmulatorDevice
from coso.env.base import Device, EpisodeConfig, Judge, PhoneEnv
from coso.errors import ConfigError

if TYPE_CHECKING:
    from coso.config import EnvConfig

logger = logging.getLogger(__name__)


def _gemini_judges(env: EnvConfig) -> Callable[[int], Judge]:
    from coso.env.gemini_judge import GeminiJudgeConfig, GeminiJudgeFactory

    return GeminiJudgeFactory(GeminiJudgeConfig.from_mapping(env.gemini or {}))


def _rule_judges(env: EnvConfig) -> Callable[[int], Judge]:
    raise ConfigError(
        "env.judge=rule reads the simulator's state, which a real phone does not have; use env.judge=gemini "
        "with env.backend=android"
    )


JUDGE_BUILDERS: dict[str, Callable[[EnvConfig], Callable[[int], Judge]]] = {
    "gemini": _gemini_judges,
    "rule": _rule_judges,
}


class AndroidEnvFactory:
    """Builds the ``PhoneEnv`` of one pool slot; ``close()`` stops every emulator it started."""

    def __init__(self, settings: AndroidSettings, attach_urls: list[str], judges: Callable[[int], Judge],
                 episode: EpisodeConfig) -> None:
        self.settings = settings
        self.attach_urls = attach_urls
        self.judges = judges
        self.episode = episode
        self.fleet = None if attach_urls else EmulatorFleet(settings.emulator)

    def __repr__(self) -> str:
        mode = (f"attach_urls={self.attach_urls}" if self.attach_urls
                else f"fleet={self.settings.emulator.num_instances}")
        return f"AndroidEnvFactory({mode})"

    def device(self, slot: int) -> Device:
        """The device of slot ``slot``: an emulator of the fleet, or a session on an attached server."""
        if self.fleet is not None:
            return EmulatorDevice(self.fleet, slot, self.settings.timeouts, self.settings.capabilities)
        return AppiumDevice(self.attach_urls[slot], self.settings.capabilities, self.settings.timeouts, "home")

    def __call__(self, slot: int) -> PhoneEnv:
        """A fresh environment for pool slot ``slot``."""
        return PhoneEnv(self.device(slot), self.judges(slot), self.episode)

    def close(self) -> None:
        """Stop the fleet's emulators and Appium servers (also done at interpreter exit)."""
        if self.fleet is not None:
            self.fleet.close()


def android_env_factory(env: EnvConfig, episode: EpisodeConfig, seed: int) -> AndroidEnvFactory:
    """The factory for ``env.backend=android``; the seed cannot choose a real phone's state and is unused."""
    values: dict[str, Any] = dict(env.android or {})
    attach_urls = [str(url) for url in values.pop("attach_urls", []) or []]
    requested = values.get("num_instances")
    if requested is not None and int(requested) != env.num_envs:
        raise ConfigError(
            f"env.android.num_instances={requested} differs from env.num_envs={env.num_envs}: one emulator runs per "
            "environment slot; set only env.num_envs"
        )
    values["num_instances"] = env.num_envs
    if attach_urls and len(attach_urls) < env.num_envs:
        raise ConfigError(
            f"env.android.attach_urls lists {len(attach_urls)} servers for env.num_envs={env.num_envs} slots; "
            "give one Appium server URL per slot"
        )
    settings = AndroidSettings.from_mapping(values)
    if env.judge not in JUDGE_BUILDERS:
        raise ConfigError(f"env.judge={env.judge!r} is not one of {sorted(JUDGE_BUILDERS)}")
    judges = JUDGE_BUILDERS[env.judge](env)
    return AndroidEnvFactory(settings, attach_urls, judges, episode)
