"""Progress that reads well in a terminal and in a log file.

`progress(...)` takes tqdm's arguments. On a terminal it is a tqdm bar; when stderr is not a terminal (CI, `nohup`,
a cluster's log file, a pipe) it is a `LogProgress`, which prints one plain line every `SDBENCH_PROGRESS_S` seconds
(default 10) and one at the end:

    build multipanel/synthetic train: 1200/3000 ex (40 %), 85.1 ex/s, elapsed 14 s, ETA 21 s

instead of tqdm's carriage-return redraws (one endless line in a log) or nothing at all.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

INTERVAL_ENV = "SDBENCH_PROGRESS_S"


def progress(iterable: Iterable | None = None, total: float | None = None, desc: str = "", unit: str = "it",
             initial: int = 0, disable: bool | None = False, file: TextIO | None = None, **tqdm_kwargs: Any):
    """A tqdm bar on a terminal, a LogProgress elsewhere; `disable=True` turns both off."""
    file = sys.stderr if file is None else file
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    if _is_tty(file):
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, disable=bool(disable), file=file,
                    **tqdm_kwargs)
    return LogProgress(iterable, total=total, desc=desc, unit=unit, initial=initial, disable=bool(disable), file=file)


def write(message: str, file: TextIO | None = None) -> None:
    """Print a message without breaking a tqdm bar (tqdm.write on a terminal, a plain print elsewhere)."""
    file = sys.stderr if file is None else file
    if _is_tty(file):
        from tqdm.auto import tqdm

        tqdm.write(message, file=file)
    else:
        print(message, file=file, flush=True)


class LogProgress:
    """The part of tqdm's interface sdbench uses (iteration, update, set_postfix, close, context manager), as timed
    plain lines."""

    def __init__(self, iterable: Iterable | None = None, total: float | None = None, desc: str = "",
                 unit: str = "it", initial: int = 0, disable: bool = False, file: TextIO | None = None,
                 interval: float | None = None, clock=time.monotonic):
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.n = self.start_n = initial
        self.disable, self.file = disable, sys.stderr if file is None else file
        self.interval = interval if interval is not None else float(os.environ.get(INTERVAL_ENV, "10"))
        self.clock = clock
        self.started = self.last = clock()
        self.postfix = ""
        self.closed = False

    def __iter__(self) -> Iterator:
        for item in self.iterable if self.iterable is not None else ():
            yield item
            self.update(1)
        self.close()

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, n: float = 1) -> None:
        self.n += n
        now = self.clock()
        if not self.disable and now - self.last >= self.interval:
            self.last = now
            self._print(now)

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kwargs: Any) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def close(self) -> None:
        if not self.closed and not self.disable and self.n > self.start_n:
            self._print(self.clock(), final=True)
        self.closed = True

    def line(self, now: float, final: bool = False) -> str:
        """'desc: 12/40 ex (30 %), 2.0 ex/s, elapsed 6 s, ETA 14 s[, postfix]'."""
        elapsed = now - self.started
        done = self.n - self.start_n
        rate = done / elapsed if elapsed > 0 else math.nan
        parts = [f"{self.n:g}/{self.total:g} {self.unit}" if self.total else f"{self.n:g} {self.unit}"]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f} %)"
        if rate == rate:
            parts.append(f"{rate:.3g} {self.unit}/s")
        parts.append(f"elapsed {_duration(elapsed)}")
        if self.total and not final and rate and rate == rate:
            parts.append(f"ETA {_duration(max(0.0, (self.total - self.n) / rate))}")
        if final:
            parts.append("done")
        return f"{self.desc}: " + ", ".join(parts) + (f", {self.postfix}" if self.postfix else "")

    def _print(self, now: float, final: bool = False) -> None:
        print(self.line(now, final), file=self.file, flush=True)


def _duration(seconds: float) -> str:
    """'42 s', '3 min 05 s', '1 h 02 min'.

    >>> _duration(42.4), _duration(185), _duration(3720)
    ('42 s', '3 min 05 s', '1 h 02 min')
    """
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _is_tty(file: TextIO) -> bool:
    try:
        return file.isatty()
    except (AttributeError, ValueError):
        return False
