"""The exception hierarchy of coso: user mistakes and device failures are distinct, catchable types."""

from __future__ import annotations

import pickle


class CosoError(Exception):
    """Base class of every error coso raises on purpose."""


class UserInputError(CosoError):
    """A user mistake (bad config, missing file, malformed data): reported as one clear line, no traceback."""


class ConfigError(UserInputError):
    """A configuration value or key is wrong."""


class TaskParseError(UserInputError):
    """A task sentence could not be turned into a supported goal."""


class DatasetError(UserInputError):
    """A trajectory dataset file is missing, malformed or has wrong fields."""


class CheckpointError(UserInputError):
    """A checkpoint directory is missing files or holds incompatible state."""


class TrainingError(CosoError):
    """Training cannot go on (for example a non-finite loss)."""


class DeviceError(CosoError):
    """A phone (simulated or real) failed: the environment pool restarts it."""


class DeviceTimeoutError(DeviceError):
    """A device call did not return within its time limit."""


class DeviceConnectionError(DeviceError):
    """The connection to a device or its control server broke."""


class EmulatorError(DeviceError):
    """An Android emulator could not be created, booted or reached."""


class TooManyRestartsError(DeviceError):
    """A device kept failing after the allowed number of restarts."""


class JudgeError(CosoError):
    """The success judge could not give a verdict (for example an API failure)."""


class InsufficientDataError(TrainingError):
    """A data-collection phase yielded too few usable episodes to train on (e.g. most devices failed)."""


def unsafe_load_reason(error: BaseException) -> str:
    """Why torch.load(weights_only=True) refused a file, in one line, never with torch's advice to load it unsafely."""
    text = str(error)
    if isinstance(error, pickle.UnpicklingError) or "weights_only" in text or "Weights only" in text:
        return "it holds Python objects other than tensors and plain values, which coso never unpickles"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"{type(error).__name__}: {first[:200]}" if first else type(error).__name__
