"""The one exception base of expbook: its message is exactly what the CLI prints."""


class ExpbookError(Exception):
    """Any user-facing failure (bad input, unknown experiment, broken repo).

    The CLI prints ``str(err)`` prefixed with ``error:`` and exits with ``exit_code``.
    """

    exit_code = 2


class QueryError(ExpbookError):
    """A --where / --score expression that does not parse or names an unknown key."""


class SpecError(ExpbookError):
    """A sweep spec that is invalid (unknown key, bad range, bad method)."""


class NotFoundError(ExpbookError):
    """An experiment name, rev or key that matches nothing (or several things)."""
