"""Environments: the action grammar, tasks, the simulated phone, real devices and the environment pool."""
