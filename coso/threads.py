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
# a thread waiting at a barrier spins ~5,000 iterations (libgomp's default: 300,000) and then sleeps, so a waiting
# thread gives a busy core back quickly while short waits alone stay cheap. benchmarks/reports/threads.md (two
# runs): alone 1.13x / 1.32x torch's default time, beside one busy process 2.41x / 2.32x its own alone time
# (torch's default: 4.2x / 3.8x); sleeping at once (OMP_WAIT_POLICY=PASSIVE, the default before) was 1.40x /
# 1.86x alone. The thread count stays fixed, so results do not depend on the machine's load (a thread count
# chosen by measurement would: 1 and 2 threads differ in the last bits of the gradients)
DEFAULT_SPIN_COUNT = "5000"
# either variable set by the user decides how waiting threads behave
WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def default_thread_env() -> dict[str, str]:
    """The OpenMP variables a run starts with unless the user set them."""
    return {"GOMP_SPINCOUNT": DEFAULT_SPIN_COUNT}


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
        if not any(name in environ for name in WAIT_VARIABLES):  # a user's wait policy or spin count decides
            environ[key] = value
            applied[key] = value
    return applied


def set_torch_threads(num_threads: int) -> None:
    """``train.num_threads``: 0 keeps torch's default (one per core, or OMP_NUM_THREADS); N > 0 uses N."""
    if num_threads > 0:
        import torch

        torch.set_num_threads(num_threads)
