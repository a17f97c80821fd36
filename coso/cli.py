"""Hydra entry: compose the run config, dispatch to the run kind, report user mistakes in one line."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from coso.config import RunConfig, register_configs
from coso.errors import TrainingError, UserInputError

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")

register_configs()


def to_run_config(cfg: DictConfig) -> RunConfig:
    """The typed RunConfig of a composed Hydra config."""
    return OmegaConf.to_object(cfg)  # type: ignore[return-value]


@hydra.main(version_base=None, config_path=CONFIG_DIR, config_name="coso_off2on")
def _hydra_main(cfg: DictConfig) -> None:
    from coso.runs import execute

    config = to_run_config(cfg)
    try:
        summary_line = execute(config, OmegaConf.to_container(cfg, resolve=True))
    except UserInputError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except TrainingError as error:
        print(f"error: training stopped: {error}", file=sys.stderr)
        sys.exit(3)
    if summary_line:  # other data-parallel processes print nothing
        print(summary_line, flush=True)


def main() -> None:
    """Console entry point."""
    _hydra_main()
