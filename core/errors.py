"""Errors the engine raises for bad input: their message is what the user sees, one line."""
import os


class LatentExplorerError(Exception):
    """Base class: a user-facing problem (bad data, bad file, missing device), not a bug."""


class DataError(LatentExplorerError):
    """A data source could not be loaded or has the wrong shape."""


class CheckpointError(LatentExplorerError):
    """A checkpoint file is missing, corrupt or not one of ours."""


class TrainingError(LatentExplorerError):
    """Training could not go on (e.g. the loss became NaN)."""


class Cancelled(LatentExplorerError):
    """The user cancelled a long operation (encoding, projecting); nothing went wrong."""

    def __init__(self, message: str = "cancelled"):
        super().__init__(message)


class AudioDeviceError(LatentExplorerError):
    """No sound device, a device that cannot be opened with the settings asked for, or one that went away."""


def os_error_words(exc: OSError) -> str:
    """The cause of an OSError in words: 'no space left on device', 'permission denied', ..."""
    return (os.strerror(exc.errno) if exc.errno else str(exc)).lower()
