"""Run logging: metrics.jsonl, wandb (offline unless a key is set), learning-curve plots, summary.json."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from coso.atomic import atomic_write_text

# "token" only as a whole name part (hf_token, access_token), not max_new_tokens or tokenizer_vocab_size
SECRET_KEY_PATTERN = re.compile(r"(api[_-]?key|(^|[_-])token($|[_-])|secret|password|credential)", re.IGNORECASE)
REDACTED = "<redacted>"
WANDB_MODES = ("auto", "online", "offline", "disabled")
# Secrets recognised by their value, whatever the key they sit under (or inside free text such as a command line):
# scheme://user:password@, an Authorization header, a Bearer/Basic credential, key=secret, known token formats
_URL_PASSWORD = re.compile(r"(?P<keep>(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^/\s@]+@")
_AUTH_HEADER = re.compile(r"(?P<keep>\b(?:proxy-)?authori[sz]ation\b[\"']?\s*[:=]\s*[\"']?)[^\r\n,;}\"']+",
                          re.IGNORECASE)
_AUTH_SCHEME = re.compile(r"(?P<keep>\b(?:[Bb]earer|BEARER|Basic|BASIC)\s+)[A-Za-z0-9._~+/=-]{6,}")
# key=value or key: value inside a string, redacted when the key looks secret (a query string, an override);
# keys start only where a word starts, so a long run of word characters is scanned once (linear time)
_KEY_VALUE = re.compile(r"(?P<key>(?<![\w.-])[A-Za-z_][\w.-]*)(?P<sep>[\"']?\s*[=:]\s*)(?P<value>[^\s&;,?'\"}]+)")
# well-known token formats: Hugging Face, OpenAI-style, GitHub, Slack, AWS access keys, Google API keys
_TOKEN_FORMAT = re.compile(r"\b(?:hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{20,}"
                           r"|xox[abpr]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35})\b")


def _redact_key_value(match: re.Match[str]) -> str:
    name = match.group("key").rsplit(".", 1)[-1]
    if SECRET_KEY_PATTERN.search(name) is None:
        return match.group(0)
    return f"{match.group('key')}{match.group('sep')}{REDACTED}"


def redact_text(text: str) -> str:
    """The text with every secret-looking value (URL password, auth header, bearer token, key=secret) replaced."""
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('keep')}{REDACTED}@", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group('keep')}{REDACTED}", text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m.group('keep')}{REDACTED}", text)
    text = _TOKEN_FORMAT.sub(REDACTED, text)
    return _KEY_VALUE.sub(_redact_key_value, text)


def redact_secrets(value: Any) -> Any:
    """A copy of a nested config with every secret-looking key's value, and every secret-looking string, replaced."""
    if isinstance(value, Mapping):
        return {
            key: (REDACTED if _secret_key(key) and item not in (None, "") else redact_secrets(item))
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact_secrets(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def _secret_key(key: Any) -> bool:
    """True for a key whose value is a secret whatever it holds (api_key, hf_token, Authorization, ...)."""
    return SECRET_KEY_PATTERN.search(str(key)) is not None or str(key).lower() in ("authorization",
                                                                                    "proxy-authorization", "cookie")


@contextlib.contextmanager
def _redacted_argv() -> Iterator[None]:
    """Within the block sys.argv holds redacted arguments, so wandb never records a secret from the command line."""
    original = list(sys.argv)
    sys.argv[1:] = [redact_text(argument) for argument in original[1:]]
    try:
        yield
    finally:
        sys.argv[:] = original


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunLogger:
    """Writes metrics to metrics.jsonl and wandb, and draws the learning curves of a run directory."""

    def __init__(
        self,
        run_dir: Path,
        config: Mapping[str, Any],
        *,
        project: str = "coso",
        run_name: str = "",
        wandb_mode: str = "auto",
        enabled: bool = True,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.metrics_path = self.run_dir / "metrics.jsonl"
        self._wandb_run = None
        if not enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if wandb_mode not in WANDB_MODES:
            from coso.errors import ConfigError

            raise ConfigError(f"logging.wandb_mode={wandb_mode!r} is not one of {WANDB_MODES}")
        mode = str(wandb_mode)  # a plain word for wandb (logging.wandb_mode is a str Enum)
        if mode == "auto":
            mode = os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") else "offline")
        if mode != "disabled":
            import wandb

            os.environ.setdefault("WANDB_SILENT", "true")
            # no code, git diff or program arguments in wandb's files: the config below is the redacted record
            settings = wandb.Settings(save_code=False, disable_code=True, disable_git=True)
            with _redacted_argv():
                self._wandb_run = wandb.init(
                    project=project,
                    name=run_name or None,
                    dir=os.environ.get("WANDB_DIR", str(self.run_dir)),
                    config=redact_secrets(dict(config)),
                    mode=mode,  # type: ignore[arg-type]  # WANDB_MODE from the environment: wandb checks it
                    reinit="finish_previous",
                    settings=settings,
                )

    def log(self, metrics: Mapping[str, Any], *, step: int, phase: str) -> None:
        """Append one record of metrics (tagged with its phase and global step)."""
        if not self.enabled:
            return
        record = {"step": int(step), "phase": phase, "time": time.time()}
        record.update({key: _finite_or_none(value) for key, value in metrics.items()})
        with self.metrics_path.open("a") as handle:
            handle.write(json.dumps(record, default=_json_default) + "\n")
        if self._wandb_run is not None:
            self._wandb_run.log({f"{phase}/{key}": value for key, value in metrics.items()}, step=int(step))

    def read_metrics(self) -> list[dict[str, Any]]:
        """All records logged so far (also those of a run this one resumes)."""
        if not self.metrics_path.exists():
            return []
        records = []
        for line in self.metrics_path.read_text().splitlines():
            line = line.strip()
            if line:
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue  # a line cut short by a killed process: skip it
        return records

    def metrics_line_count(self) -> int:
        """Lines in metrics.jsonl (a checkpoint remembers it, so a resumed run drops what came after)."""
        if not self.metrics_path.exists():
            return 0
        with self.metrics_path.open() as handle:
            return sum(1 for _ in handle)

    def plot(self, filename: str = "learning_curve.png") -> Path | None:
        """Draw success rates and losses against environment steps into a PNG in the run directory."""
        if not self.enabled:
            return None
        from coso.training.plots import plot_learning_curves

        return plot_learning_curves(self.read_metrics(), self.run_dir / filename)

    def finish(self) -> None:
        """Close the wandb run."""
        if self._wandb_run is not None:
            self._wandb_run.finish()
            self._wandb_run = None


def write_resolved_config(run_dir: Path, resolved: Mapping[str, Any]) -> None:
    """Write the run's resolved config, secrets redacted, as config.yaml in its run directory."""
    from omegaconf import OmegaConf

    atomic_write_text(Path(run_dir) / "config.yaml", OmegaConf.to_yaml(redact_secrets(dict(resolved))))


def write_summary(run_dir: Path, summary: Mapping[str, Any]) -> str:
    """Write summary.json atomically and return it as one line (the run prints it last)."""
    line = json.dumps(dict(summary), default=_json_default, sort_keys=True)
    atomic_write_text(Path(run_dir) / "summary.json", json.dumps(dict(summary), default=_json_default, indent=2) + "\n")
    return line
