"""The exception hierarchy of coso: user mistakes and device failures are distinct, catchable types."""

from __future__ import annotations


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
