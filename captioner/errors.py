"""Errors that reach the user as one line plus a hint, never as a traceback."""

from __future__ import annotations


class CaptionerError(Exception):
    """An expected failure with a message for the user and an optional hint.

    The CLI prints ``error: <message>`` and, when set, ``hint: <hint>``, then exits
    with ``exit_code``.
    """

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(CaptionerError):
    """A config file or override is malformed: the message names the file and key."""

    exit_code = 2


class ModelError(CaptionerError):
    """A model is unknown, missing, corrupt or could not be fetched."""


class AudioError(CaptionerError):
    """An audio input could not be opened or decoded."""


class CommandError(ValueError):
    """An operator command that cannot be applied; the message is safe to show the operator."""
