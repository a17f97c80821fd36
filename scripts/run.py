#!/usr/bin/env python
"""The single entry point: `python scripts/run.py --config-name <run config> [overrides]`."""

from coso.threads import apply_thread_defaults

apply_thread_defaults()  # before torch loads libgomp (benchmarks/reports/threads.md)

from coso.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
