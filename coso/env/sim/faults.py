"""Fault injection for the simulated phone: seeded device errors, hangs and corrupted screenshots.

These stand in for the failures of real emulators (a dead adb connection, a frozen emulator, a blank frame)
so the environment pool's recovery paths can be tested against the real simulator.
"""

from __future__ import annotations

import random
import time

from PIL import Image

from coso.env.sim.config import FaultConfig
from coso.env.sim.text import stable_seed
from coso.errors import DeviceError


class FaultInjector:
    """Decides, per device call, whether to fail, hang or corrupt; reseeded with every episode."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.counts = {"errors": 0, "hangs": 0, "corruptions": 0}
        self.latency_rng = random.Random(config.seed)  # its own stream: latency leaves the fault draws unchanged

    def reset(self, episode_seed: int) -> None:
        """Reseed from the episode seed so the same episode fails the same way."""
        self.rng = random.Random(stable_seed("faults", self.config.seed, episode_seed))
        self.latency_rng = random.Random(stable_seed("latency", self.config.seed, episode_seed))

    def action_latency(self) -> None:
        """Sleep an emulator's per-action latency (env.sim.faults.action_latency_s, + jitter); none by default."""
        config = self.config
        if config.action_latency_s <= 0 and config.action_latency_jitter_s <= 0:
            return
        time.sleep(config.action_latency_s + config.action_latency_jitter_s * self.latency_rng.random())

    def before_call(self, call: str) -> None:
        """Maybe raise ``DeviceError`` or sleep, before the device call ``call`` runs."""
        config = self.config
        if not config.enabled:
            return
        if config.error_prob > 0 and self.rng.random() < config.error_prob:
            self.counts["errors"] += 1
            raise DeviceError(f"simulated device failure in {call}() (env.sim.faults.error_prob={config.error_prob})")
        if config.hang_prob > 0 and self.rng.random() < config.hang_prob:
            self.counts["hangs"] += 1
            time.sleep(config.hang_seconds)

    def screenshot(self, image: Image.Image) -> Image.Image:
        """``image``, or (with ``corrupt_prob``) a black frame or one of the wrong size."""
        config = self.config
        if config.corrupt_prob <= 0 or self.rng.random() >= config.corrupt_prob:
            return image
        self.counts["corruptions"] += 1
        mode = self.rng.choice(config.corrupt_modes)
        if mode == "black":
            return Image.new("RGB", image.size, (0, 0, 0))
        width, height = image.size
        return image.resize((max(1, width // 2), max(1, height // 2)))
