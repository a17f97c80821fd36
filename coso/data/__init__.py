"""coso.data: trajectory records, the on-disk dataset format, the replay buffer and the reference importer."""

from coso.data.buffer import ReplayBuffer, TransitionBatch, as_generator, collate_transitions, split_trajectories
from coso.data.dataset import (
    FORMAT_NAME,
    FORMAT_VERSION,
    DatasetManifest,
    dataset_summary,
    load_datasets,
    load_trajectories,
    read_manifest,
    save_trajectories,
)
from coso.data.trajectory import Trajectory, Transition

_LAZY = {"import_reference_pt", "restricted_load"}  # imported on first use, so `python -m` runs the importer cleanly


def __getattr__(name: str) -> object:
    """Load the reference importer only when one of its names is asked for."""
    if name in _LAZY:
        from coso.data import reference_import

        return getattr(reference_import, name)
    raise AttributeError(f"module 'coso.data' has no attribute {name!r}")


__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "DatasetManifest",
    "ReplayBuffer",
    "Trajectory",
    "Transition",
    "TransitionBatch",
    "as_generator",
    "collate_transitions",
    "dataset_summary",
    "import_reference_pt",
    "load_datasets",
    "load_trajectories",
    "read_manifest",
    "restricted_load",
    "save_trajectories",
    "split_trajectories",
]
