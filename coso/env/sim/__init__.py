"""The simulated Android phone: Pillow-drawn screens of a launcher, Chrome with shopping sites, Play Store,
YouTube, Maps, Settings, Clock and simple apps, with per-episode layout variation and fault injection.

Screens are element trees (``coso.env.sim.ui``) built from the phone state (``coso.env.sim.state``) by the
app modules (``coso.env.sim.apps``); the same tree is drawn and hit-tested. See docs/simulator.md.
"""

from coso.env.sim.config import DIFFICULTY_LEVELS, FaultConfig, SimConfig, difficulty_value
from coso.env.sim.layout import build_screen
from coso.env.sim.phone import SimPhone
from coso.env.sim.state import Alarm, Layout, Page, PhoneState, UiState
from coso.env.sim.ui import Element, Screen

__all__ = [
    "DIFFICULTY_LEVELS",
    "Alarm",
    "Element",
    "FaultConfig",
    "Layout",
    "Page",
    "PhoneState",
    "Screen",
    "SimConfig",
    "SimPhone",
    "UiState",
    "build_screen",
    "difficulty_value",
]
