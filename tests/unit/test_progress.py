"""sdbench.core.progress: timed plain lines when stderr is not a terminal (logs), with a count, a rate and an ETA."""

import io

from sdbench.core.progress import LogProgress, progress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_line_every_interval_with_rate_and_eta_and_one_at_the_end():
    out, clock = io.StringIO(), Clock()
    bar = LogProgress(total=40, desc="build multipanel train", unit="ex", file=out, interval=10, clock=clock)
    for step in range(40):
        clock.now = (step + 1) * 0.5          # 2 examples a second
        bar.update(1)
        bar.set_postfix(loss="0.5")
    bar.close()
    lines = out.getvalue().splitlines()
    # at 10 s (20 done) and 20 s (40 done), then the closing line
    assert lines[0] == "build multipanel train: 20/40 ex (50 %), 2 ex/s, elapsed 10 s, ETA 10 s, loss=0.5"
    assert lines[-1] == "build multipanel train: 40/40 ex (100 %), 2 ex/s, elapsed 20 s, done, loss=0.5"
    assert len(lines) == 3


def test_resumed_runs_count_from_their_start_and_iterables_update_themselves():
    out, clock = io.StringIO(), Clock()
    bar = LogProgress(range(5, 10), total=10, initial=5, desc="grpo multipanel", unit="step", file=out, interval=1,
                      clock=clock)
    seen = []
    for step in bar:
        clock.now += 1
        seen.append(step)
    assert seen == [5, 6, 7, 8, 9]
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("grpo multipanel: 6/10 step (60 %), 1 step/s") and "ETA 4 s" in lines[0]
    assert lines[-1].endswith("10/10 step (100 %), 1 step/s, elapsed 5 s, done")


def test_not_a_terminal_gets_log_lines_and_disable_silences():
    out = io.StringIO()                        # StringIO.isatty() is False, as a log file's is
    bar = progress(range(3), desc="eval", unit="batch", file=out)
    assert isinstance(bar, LogProgress) and bar.total == 3
    assert list(bar) == [0, 1, 2] and out.getvalue().startswith("eval: 3/3 batch (100 %)")
    quiet = io.StringIO()
    assert list(progress(range(3), desc="x", file=quiet, disable=True)) == [0, 1, 2] and quiet.getvalue() == ""
