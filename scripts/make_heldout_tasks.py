#!/usr/bin/env python
"""Write the task sentences of an AitW list that the training task generator never produces.

The generator draws AitW's own wordings, so most of AitW's lines are training sentences; the held-out
evaluation (``eval_task_file=...``) needs the others. A line counts as seen when the generator writes it
for any of ``--seeds`` (the training seeds of the runs to score).

    python scripts/make_heldout_tasks.py ../shared/data/aitw/webshop_train.txt runs/heldout_webshop.txt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from coso.env.factory import GENERATED_TRAIN_TASKS
from coso.env.task_generator import generate_tasks


def heldout_lines(lines: Sequence[str], seeds: Sequence[int], task_set: str) -> list[str]:
    """The non-empty lines the generator does not write for any of the seeds, in file order, deduplicated."""
    seen = set()
    for seed in seeds:
        seen |= {task.text for task in generate_tasks(GENERATED_TRAIN_TASKS, seed, task_set)}
    kept = dict.fromkeys(line.strip() for line in lines if line.strip() and line.strip() not in seen)
    return list(kept)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task_file", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--task-set", default="webshop")
    args = parser.parse_args(argv)
    lines = args.task_file.read_text(encoding="utf-8").splitlines()
    kept = heldout_lines(lines, args.seeds, args.task_set)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(kept) + "\n", encoding="utf-8")
    total = sum(1 for line in lines if line.strip())
    print(f"{len(kept)} of {total} lines are never generated for seeds {args.seeds}: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
