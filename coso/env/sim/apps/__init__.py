"""The simulated apps; importing this package registers every view, popup and command."""

from coso.env.sim.apps import chrome, clock, launcher, maps, settings, shop, store, youtube

__all__ = ["chrome", "clock", "launcher", "maps", "settings", "shop", "store", "youtube"]
