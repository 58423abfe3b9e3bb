"""The few exceptions the CLI turns into one clear line and an exit code."""


class LabError(Exception):
    """A runtime failure the user can act on (exit 1). The message says what to do."""


class UsageError(LabError):
    """The command line or a scenario file is wrong (exit 2)."""


class LabUnavailable(LabError):
    """The lab is not running, or Docker cannot be asked about it (exit 3)."""
