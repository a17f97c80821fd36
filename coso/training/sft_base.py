"""The SFT base: the built-in policy's warm start, built once per configuration and shared by every run.

DigiRL starts every seed and every method from one AutoUI-SFT checkpoint. The built-in policy's stand-in
is the SFT warm start (``train.sft_steps`` of behaviour cloning on noise-free demonstrations); with
``train.sft_cache_dir`` set it is built once, as a run of its own (``train_mode=sft``: the untrained
evaluation, then SFT, then the ``sft`` evaluation) with its own seed ``train.sft_seed``, into
``<sft_cache_dir>/<key hash>/``, and every later run whose base key is the same starts from it like
``load_path`` (its ``initial``/``sft`` evaluations carried over, SFT never repeated). A change to anything
in the key (the policy, its tokenizer, the phone, the demonstrations, the SFT optimiser, the evaluation
protocol) gives another hash, so a stale base is never reused. ``--config-name pretrain_base`` builds it
explicitly and reports its build time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from coso.config import RunConfig
from coso.errors import ConfigError
from coso.training.checkpoint import has_checkpoint, read_checkpoint

# Everything that changes the SFT base, by config section (the run's seed and algorithm do not).
_ENV_KEYS = ("backend", "task_set", "image_encoder", "image_encoder_path", "image_feature_dim", "invalid_action",
             "invalid_action_penalty", "point_decimals", "max_steps_general", "max_steps_webshop", "sim")
_TRAIN_KEYS = ("sft_steps", "sft_episodes", "sft_noise", "sft_seed", "batch_size", "grad_accum_steps",
               "max_grad_norm", "sft_lr", "lm_adam_beta2", "eval_episodes", "eval_initial", "mixed_precision")
_AGENT_KEYS = ("name", "policy_path", "model", "tokenizer_vocab_size", "tokenizer_word_spaces", "critic_text_encoder",
               "critic_encoder_path", "critic", "max_new_tokens", "eval_temperature", "lora_rank",
               "constrained_decoding", "require_typed_text")
_CAUSAL_KEYS = ("hidden_size", "num_heads", "num_layers", "ffn_size")  # the base checkpoint holds a causal model too


_TIMING_ONLY_FAULTS = ("action_latency_s", "action_latency_jitter_s")  # env.sim.faults keys left out of the key


def sft_base_key(config: RunConfig) -> dict[str, Any]:
    """What the base is a function of (JSON values), in a stable order."""
    def pick(section: object, keys: tuple[str, ...]) -> dict[str, Any]:
        values = dataclasses.asdict(section) if dataclasses.is_dataclass(section) else dict(section)
        return {key: values[key] for key in keys}

    env = pick(config.env, _ENV_KEYS)
    faults = env.get("sim", {}).get("faults", {})
    for timing in _TIMING_ONLY_FAULTS:  # they slow a phone down but change no episode
        faults.pop(timing, None)
    return {
        "agent": pick(config.agent, _AGENT_KEYS),
        "env": env,
        "train": dict(pick(config.train, _TRAIN_KEYS), sft_lr=_sft_learning_rate(config)),
        "causal": pick(config.causal, _CAUSAL_KEYS),
        "task_file": config.task_file,
        "eval_task_file": config.eval_task_file,
    }


def _sft_learning_rate(config: RunConfig) -> float:
    return config.train.sft_lr or config.train.lm_lr


def sft_base_path(config: RunConfig) -> Path:
    """``<sft_cache_dir>/<12 hex digits of the key's hash>``."""
    if not config.train.sft_cache_dir:
        raise ConfigError("train.sft_cache_dir is empty: there is no SFT base cache to use")
    text = json.dumps(sft_base_key(config), sort_keys=True, default=str)
    return Path(config.train.sft_cache_dir) / hashlib.sha256(text.encode()).hexdigest()[:12]


def uses_sft_base(config: RunConfig) -> bool:
    """True when a training run starts from the cached base (a cache is set, SFT is on, no load_path)."""
    return bool(config.train.sft_cache_dir) and config.train.sft_steps > 0 and not config.load_path


def base_build_config(config: RunConfig) -> RunConfig:
    """The config of the base's own run: warm start only, with the base seed, into the cache directory."""
    path = sft_base_path(config)
    return dataclasses.replace(
        config, seed=config.train.sft_seed, save_path=str(path), train_mode="sft", load_path="", offline_data="",
        config_name="pretrain_base",
    )


@dataclasses.dataclass
class SftBase:
    """A built base: where it is, whether this process built it, and its own summary."""

    path: Path
    built_now: bool
    summary: dict[str, Any]

    def report(self) -> dict[str, Any]:
        """The lines a run's summary.json carries about its base."""
        return {"path": str(self.path), "built_this_run": self.built_now,
                "build_wall_seconds": self.summary.get("wall_seconds", {}).get("total_this_process"),
                "eval_success_rate": self.summary.get("eval_success_rate", {})}


def ensure_sft_base(config: RunConfig, resolved: dict[str, Any],
                    train: Callable[[RunConfig, dict[str, Any]], dict[str, Any]]) -> SftBase:
    """The base for ``config``: reused when its directory holds a finished build, else built with ``train``.

    ``train(config, resolved)`` runs a training config and returns its summary (the training loop's).
    A half-finished build (killed mid-SFT) resumes like any run.
    """
    build = base_build_config(config)
    path = Path(build.save_path)
    path.mkdir(parents=True, exist_ok=True)
    with _build_lock(path):  # runs started together (an ablation grid) build the base once
        finished = _finished_summary(path)
        if finished is not None:
            return SftBase(path, False, finished)
        (path / "base_key.json").write_text(json.dumps(sft_base_key(config), indent=2, sort_keys=True, default=str))
        resolved = dict(resolved, seed=build.seed, save_path=build.save_path, train_mode="sft", load_path="",
                        offline_data="", config_name="pretrain_base")
        return SftBase(path, True, train(build, resolved))


def _finished_summary(path: Path) -> dict[str, Any] | None:
    """The summary of a finished base build in ``path``, or None."""
    summary_file = path / "summary.json"
    if not (summary_file.is_file() and has_checkpoint(path)):
        return None
    if read_checkpoint(path, required=("models",))[0].phase == "start":
        return None
    return json.loads(summary_file.read_text())


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path/.lock`` while one process checks and builds (single-process runs only:
    the processes of a data-parallel run build the base together)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        yield
        return
    with open(path / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
