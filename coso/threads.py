"""OpenMP defaults that keep a run fast alone and usable beside another process (benchmarks/reports/threads.md).

libgomp reads its environment once, when torch loads it, so the entry point applies these before importing
torch (scripts/run.py); ``train.num_threads`` then sets torch's thread count at the start of a run. This
module must not import torch.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Collection, MutableMapping

# every variable a thread setting may touch (the benchmark clears them for its candidates)
THREAD_ENV_KEYS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")
# set to "off" to leave the environment as it is
OPT_OUT_VARIABLE = "COSO_THREAD_DEFAULTS"
# a thread waiting at a barrier sleeps instead of spinning: beside one busy process an SFT step costs 1.5x its
# time alone (torch's default: 2.9x), at 1.27x torch's default time alone (benchmarks/reports/threads.md)
DEFAULT_WAIT_POLICY = "PASSIVE"


def default_thread_env() -> dict[str, str]:
    """The OpenMP variables a run starts with unless the user set them."""
    return {"OMP_WAIT_POLICY": DEFAULT_WAIT_POLICY}


def apply_thread_defaults(environ: MutableMapping[str, str] | None = None,
                          loaded_modules: Collection[str] | None = None) -> dict[str, str]:
    """Set each default the environment lacks (before torch is imported); returns what was set.

    Nothing is set when ``COSO_THREAD_DEFAULTS=off``, or when torch is already loaded (libgomp has read its
    environment by then, so a change would only mislead).
    """
    environ = os.environ if environ is None else environ
    loaded_modules = sys.modules if loaded_modules is None else loaded_modules
    if environ.get(OPT_OUT_VARIABLE, "").lower() == "off" or "torch" in loaded_modules:
        return {}
    applied = {}
    for key, value in default_thread_env().items():
        if key not in environ and "GOMP_SPINCOUNT" not in environ:  # a user's spin count decides alone
            environ[key] = value
            applied[key] = value
    return applied


def set_torch_threads(num_threads: int) -> None:
    """``train.num_threads``: 0 keeps torch's default (one per core, or OMP_NUM_THREADS); N > 0 uses N."""
    if num_threads > 0:
        import torch

        torch.set_num_threads(num_threads)
