"""Policy errors (stdlib only, so the command line can name them without importing torch)."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint folder is missing, incomplete, or corrupt; the message names the file."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint was made for another robot setup (joint names, control dt, observation
    spec, default pose, ...). ``what``, ``expected`` and ``got`` say which and how."""

    def __init__(self, path: str, what: str, expected: object, got: object):
        self.path, self.what, self.expected, self.got = str(path), what, expected, got
        super().__init__(
            f"{path}: checkpoint {what} does not match this robot: expected {expected!r}, "
            f"got {got!r}"
        )


class PolicyNotShippedError(CheckpointError):
    """``load_policy()`` was asked for the shipped default, and none is shipped yet."""
