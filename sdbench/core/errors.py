"""The one exception type users see.

Every error that a user can cause (bad path, malformed record, bad config value, unknown name) is raised as
`SdbenchError` with a one-line message that names the file / record / field and says what to do. The CLI
prints it without a traceback and exits with status 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SdbenchError(Exception):
    """A user-facing error: one line naming what is wrong and how to fix it."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a close match exists, else ''.

    >>> did_you_mean("multipanle", ["multipanel", "multichart"])
    " (did you mean 'multipanel'?)"
    """
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_name_error(kind: str, name: str, choices: Iterable[str], where: str = "") -> SdbenchError:
    """The standard error for an unknown task / source / metric / method name.

    >>> str(unknown_name_error("source", "docc", ["docci", "synthetic"], where=" of task 'multipanel'"))
    "unknown source 'docc' of task 'multipanel' (did you mean 'docci'?); valid: docci, synthetic"
    """
    choices = sorted(choices)
    return SdbenchError(f"unknown {kind} {name!r}{where}{did_you_mean(name, choices)}; valid: {', '.join(choices)}")
