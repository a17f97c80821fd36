"""A run config executed in the test's own process, as scripts/run.py would run it; returns its summary."""

from __future__ import annotations

import json

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from coso.cli import CONFIG_DIR
from coso.runs import execute


def run_in_process(name: str, overrides: list[str]) -> dict:
    """Compose ``configs/<name>.yaml`` with the overrides, execute it here and return summary.json's content."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        cfg = compose(config_name=name, overrides=overrides)
    return json.loads(execute(OmegaConf.to_object(cfg), OmegaConf.to_container(cfg, resolve=True)))
