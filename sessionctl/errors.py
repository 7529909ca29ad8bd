"""The one error hierarchy of sessionctl, and the one place exit codes are defined.

The core raises these; the CLI entry point maps them to an exit code and a one-line
message (plus a hint saying what to run next). Nothing in the core prints or exits.
"""

from __future__ import annotations

from enum import IntEnum


class NotRegularFile(OSError):
    """A path that should be a regular file is a FIFO, a device, a folder, ... (fsio)."""


class SymlinkRefused(OSError):
    """A path sessionctl was about to write through has a symbolic link in it (fsio)."""


class ExitCode(IntEnum):
    """Every exit code sessionctl can return (documented in docs/exit-codes.md)."""

    OK = 0
    WARNING = 1  # health: warnings found
    CRITICAL = 2  # health: critical findings
    UNKNOWN = 3  # health: could not check
    REFUSED_AGENT = 10  # gc: done, but an agent the plan would empty was left untouched
    USAGE = 64  # bad command line (never 2: a monitor would read 2 as CRITICAL)
    DATA = 65  # a store or file is invalid for the requested operation
    NO_INPUT = 66  # state dir / store / run not found
    UNAVAILABLE = 69  # an OpenClaw command needed for SQLite-era changes cannot run
    SOFTWARE = 70  # internal error (a bug in sessionctl)
    CANT_CREATE = 73  # cannot create a backup / run folder / output file
    IO = 74  # I/O error while reading or writing (ENOSPC, EIO, ...)
    BUSY = 75  # lock held, gateway running: try again later
    PERMISSION = 77  # permission denied
    CONFIG = 78  # bad configuration (openclaw.json, sessionctl.toml)


class SessionctlError(Exception):
    """Base of every error sessionctl reports to the user."""

    exit_code: ExitCode = ExitCode.SOFTWARE
    code: str = "error"

    def __init__(self, message: str, *, hint: str | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.path = path

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"code": self.code, "message": self.message}
        if self.path is not None:
            out["path"] = self.path
        if self.hint is not None:
            out["hint"] = self.hint
        return out


class UsageError(SessionctlError):
    exit_code = ExitCode.USAGE
    code = "usage"


class DataError(SessionctlError):
    exit_code = ExitCode.DATA
    code = "invalid_data"


class NotFoundError(SessionctlError):
    exit_code = ExitCode.NO_INPUT
    code = "not_found"


class CantCreateError(SessionctlError):
    exit_code = ExitCode.CANT_CREATE
    code = "cannot_create"


class IOFailure(SessionctlError):
    exit_code = ExitCode.IO
    code = "io_error"


class BusyError(SessionctlError):
    exit_code = ExitCode.BUSY
    code = "busy"


class Unavailable(SessionctlError):
    """OpenClaw cannot do what sessionctl needs it to (no `openclaw` executable, or no
    running gateway for a change that only the gateway can make)."""

    exit_code = ExitCode.UNAVAILABLE
    code = "unavailable"


class PermissionDenied(SessionctlError):
    exit_code = ExitCode.PERMISSION
    code = "permission_denied"


class ConfigError(SessionctlError):
    exit_code = ExitCode.CONFIG
    code = "bad_config"


class StepStopped(BusyError):
    """A long step stopped at a safe point because its caller's time budget is spent
    (prestart's deadline: RunContext.stop_check). Nothing is left half-done."""

    code = "stopped"


class InternalError(SessionctlError):
    exit_code = ExitCode.SOFTWARE
    code = "internal"


# The one hint for every permission error, whichever command meets it (docs/exit-codes.md).
PERMISSION_HINT = "run sessionctl as the user that owns the OpenClaw state dir (the gateway's user)"


def permission_denied(message: str, path: str | None = None) -> PermissionDenied:
    """A permission error (77) with the one hint every command gives."""
    return PermissionDenied(message, path=path, hint=PERMISSION_HINT)


def from_os_error(exc: OSError, what: str) -> SessionctlError:
    """Turn an OSError into the matching sessionctl error with a readable message."""
    import errno

    path = exc.filename if isinstance(exc.filename, str) else None
    reason = exc.strerror or str(exc)
    msg = f"{what}: {reason}" + (f" ({path})" if path else "")
    if isinstance(exc, SymlinkRefused):
        # a folder on the way was swapped for a symlink: refused before anything went through it
        return DataError(
            f"{what}: {path} {reason}",
            path=path,
            hint="put the real folder back (sessionctl never follows a symlink out of its place); "
            "`sessionctl undo` of the run restores what it changed",
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return permission_denied(msg, path)
    if exc.errno == errno.ENOENT:
        return NotFoundError(msg, path=path)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return IOFailure(msg, path=path, hint="free disk space, then run the command again")
    return IOFailure(msg, path=path)
