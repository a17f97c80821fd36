#!/usr/bin/env python
"""The single entry point: `python scripts/run.py --config-name <run config> [overrides]`."""

from coso.cli import main

if __name__ == "__main__":
    main()
