"""Every failure a user can see, with the exit code the design gives it.

One base class with a ``return_code`` and one subclass per kind of failure, so the entry
point can catch ``FatalError``, print the message and exit with the right code. Messages are
written for the user: what went wrong, where (file and place), and what to change.
"""

from __future__ import annotations


class FatalError(Exception):
    """Base of every error that ends a dtf command."""

    return_code: int = 3

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class PolicyFailure(FatalError):
    """The run finished, and the team's policy says it failed (regressions, failed units)."""

    return_code = 1


class UsageError(FatalError):
    """Bad input or usage: a wrong flag, a missing file, a malformed plan."""

    return_code = 2


class SuiteError(UsageError):
    """One or more mistakes in a suite file, all reported together.

    ``problems`` holds one line per mistake, each already in the form
    ``FILE: PLACE: what is wrong (the fix)``.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the suite:"
        super().__init__(head + "\n" + "\n".join(f"  {p}" for p in self.problems))


class RequirementError(UsageError):
    """A requirement expression that cannot be parsed (``cuda>=``, ``gpu-memory-gb>>4``)."""


class PlanError(UsageError):
    """A plan file that is missing, malformed, or does not name the requested shard."""


class ResultsFormatError(FatalError):
    """A benchmark tool's results file that its format's parser cannot read.

    Raised by ``dtf_ci.formats``; ``dtf run`` records it as the unit's ``parse`` error
    rather than ending the run, so its return code only matters when called directly.
    """

    return_code = 2

    def __init__(self, path: str, place: str, problem: str) -> None:
        self.path = path
        self.place = place
        self.problem = problem
        where = f"{path}: {place}" if place else path
        super().__init__(f"{where}: {problem}")


class ShardError(FatalError):
    """A result shard whose manifest does not match its file, or that cannot be read."""

    return_code = 3


class HistoryError(FatalError):
    """History that cannot be read or written (a store that refuses, a push that never lands)."""

    return_code = 3


class InfrastructureError(FatalError):
    """The environment failed and left no usable answer (no shard at all, API down)."""

    return_code = 3


class ProviderError(FatalError):
    """A CI provider's API answered with an error that dtf cannot work around."""

    return_code = 3

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
