"""Hydra entry: compose the run config, check it, dispatch to the run kind, report user mistakes in one line.

Exit codes: 0 done; 2 a user mistake (bad override, config value, path or input file: one ``error:`` line on
stderr, nothing written); 3 training stopped (for example a non-finite loss; the last checkpoint is kept);
4 a phone kept failing after ``env.max_restarts`` restarts (TooManyRestartsError; rerun to resume).
Hydra's own flags (``--help``, ``--cfg``, ``--info``, ``-m`` ...) are handed to Hydra unchanged.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import hydra
from omegaconf import DictConfig, OmegaConf

from coso.config import RunConfig, register_configs

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")
DEFAULT_CONFIG = "coso_off2on"
EXIT_USER_ERROR = 2
EXIT_TRAINING_STOPPED = 3
EXIT_DEVICE_FAILED = 4
# Hydra flags that do something other than run a config: these go to Hydra itself
_HYDRA_ONLY_FLAGS = ("help", "hydra_help", "cfg", "info", "shell_completion", "multirun", "experimental_rerun",
                     "config_path", "config_dir")

register_configs()


def to_run_config(cfg: DictConfig) -> RunConfig:
    """The typed RunConfig of a composed Hydra config."""
    return OmegaConf.to_object(cfg)  # type: ignore[return-value]


def _fail(message: str, code: int = EXIT_USER_ERROR) -> NoReturn:
    """Print ``error: message`` as one line on stderr and exit with ``code``."""
    print("error: " + " ".join(str(message).split()), file=sys.stderr, flush=True)
    sys.exit(code)


def _first_line(text: str) -> str:
    """The first non-empty line of a message."""
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")


def hydra_error_line(error: BaseException) -> str:
    """One line for a Hydra / OmegaConf composition error: what is wrong, with which key, how to fix it."""
    from hydra.errors import MissingConfigException, OverrideParseException

    if isinstance(error, MissingConfigException):
        missing = getattr(error, "missing_cfg_file", "") or ""
        options = list(getattr(error, "options", None) or [])
        if "/" in missing and options:
            group, name = missing.rsplit("/", 1)
            close = difflib.get_close_matches(name, options, n=1)
            hint = f" (did you mean {group}={close[0]}?)" if close else ""
            return f"{group}={name} is not a config of the {group!r} group{hint}; choose one of: {', '.join(options)}"
        return f"{_first_line(str(error))}; the run configs are the .yaml files of {CONFIG_DIR}"
    if isinstance(error, OverrideParseException):
        return f"{_first_line(str(error))}: write each override as key=value (for example train.batch_size=4)"
    cause = error.__cause__ or error.__context__
    full_key = getattr(cause, "full_key", None) or getattr(error, "full_key", None)
    reason = _first_line(str(cause)) if cause is not None else _first_line(str(error))
    choice = _choice_line(str(full_key or ""), error)
    if choice:
        return choice
    if full_key and ("not in" in reason or "not a" in reason.lower()):
        return f"{full_key} is not a setting of this config ({reason}); check its spelling with --cfg job"
    where = f"{full_key}: " if full_key else ""
    return f"{where}{reason} ({_first_line(str(error))})"


def _choice_line(full_key: str, error: BaseException) -> str:
    """The line for a word that is not one of a closed choice's (a ConfigChoice Enum): the key and the allowed
    words; '' for any other error."""
    from coso.config import choice_of, choice_problem

    enum = choice_of(full_key) if full_key else None
    if enum is None:
        return ""
    for exception in (error, error.__cause__, error.__context__):  # OmegaConf's message, formatted or not
        found = re.match(r"Invalid value '(.*)', expected one of", _first_line(str(exception or "")))
        value = getattr(exception, "value", None)
        if found is not None and (value is not None or "$VALUE" not in found.group(1)):
            return choice_problem(full_key, found.group(1) if value is None else value, enum.values())
    return ""


def checked_run_config(cfg: DictConfig) -> tuple[RunConfig, dict[str, Any]]:
    """The typed run config of a composed config and its resolved dict, after checking every key and value."""
    from coso.config import check_run_config, unknown_keys
    from coso.errors import ConfigError

    unknown = unknown_keys(cfg)
    if unknown:
        raise ConfigError(f"{', '.join(unknown)} is not a setting of this config (added with '+'?); remove it "
                          "or check its spelling with --cfg job")
    config = to_run_config(cfg)
    check_run_config(config)
    # closed choices as their plain words: the resolved dict becomes config.yaml and wandb's config
    return config, OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)  # type: ignore[return-value]


def compose_run(config_name: str, overrides: Sequence[str]) -> tuple[RunConfig, dict[str, Any]]:
    """Compose ``configs/<config_name>.yaml`` with overrides and check it; a ConfigError for anything wrong."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from coso.errors import ConfigError

    try:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
            cfg = compose(config_name=config_name, overrides=list(overrides))
        return checked_run_config(cfg)
    except (HydraException, OmegaConfBaseException) as error:
        raise ConfigError(hydra_error_line(error)) from None


def run_reporting(make_config: Callable[[], tuple[RunConfig, dict[str, Any]]]) -> None:
    """Build the config, execute it and print its summary; every known failure is one stderr line and its code."""
    from coso.errors import TooManyRestartsError, TrainingError, UserInputError

    try:
        config, resolved = make_config()
        from coso.runs import execute
        from coso.threads import set_torch_threads

        set_torch_threads(config.train.num_threads)

        summary_line = execute(config, resolved)
    except UserInputError as error:
        _fail(str(error))
    except TrainingError as error:
        _fail(f"training stopped: {error}", EXIT_TRAINING_STOPPED)
    except TooManyRestartsError as error:
        _fail(f"a phone kept failing: {error}; check the device (or raise env.max_restarts), then rerun the same "
              "command to resume from the last checkpoint", EXIT_DEVICE_FAILED)
    if summary_line:  # other data-parallel processes print nothing
        print(summary_line, flush=True)


@hydra.main(version_base=None, config_path=CONFIG_DIR, config_name=DEFAULT_CONFIG)
def _hydra_main(cfg: DictConfig) -> None:
    """Hydra's own entry, used for its flags (--help, --cfg, -m ...): runs the composed config."""
    run_reporting(lambda: checked_run_config(cfg))


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: ``[--config-name NAME] [key=value ...]``."""
    from hydra._internal.utils import get_args_parser

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        parsed = get_args_parser().parse_args(args)
    except SystemExit as exit_:  # argparse already printed its one-line usage error
        sys.exit(EXIT_USER_ERROR if exit_.code else 0)
    if any(getattr(parsed, flag, None) for flag in _HYDRA_ONLY_FLAGS):
        sys.argv = [sys.argv[0], *args]
        _hydra_main()
        return
    run_reporting(lambda: compose_run(parsed.config_name or DEFAULT_CONFIG, parsed.overrides))
