"""Environments: the domains (``domains``: the phone, Gym Cards), the action grammars, tasks, the simulated
phone, real devices and the environment pool."""
