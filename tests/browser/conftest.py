"""Headless Chromium for the browser tests.

The tests need Chromium (Debian package `chromium`) or Chrome: `$CHROMIUM`, else the first of chromium,
chromium-browser, google-chrome-stable, google-chrome on PATH. Where none is found they are skipped with the
reason, unless the environment variable CI is set: then a missing browser fails the run, since CI installs it
(`bash scripts/install_chromium.sh`, idempotent).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

NAMES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
# no network, no profile state, no background work: a quick, hermetic render of a local file
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars")
TIMEOUT_S = 60


def find_chromium() -> str | None:
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return shutil.which(explicit)
    return next((path for path in map(shutil.which, NAMES) if path), None)


def ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def chromium_binary() -> str:
    path = find_chromium()
    if path is None:
        where = (f"$CHROMIUM={os.environ['CHROMIUM']!r} is not an executable" if os.environ.get("CHROMIUM")
                 else f"no Chromium found (none of {', '.join(NAMES)} on PATH)")
        message = f"{where}; install it with `bash scripts/install_chromium.sh`"
        if ci():
            pytest.fail(f"CI is set, so the browser tests must run: {message}", pytrace=False)
        pytest.skip(f"{message} (set CI=1 to make this a failure)")
    return path


@pytest.fixture(scope="module")
def chromium(chromium_binary, tmp_path_factory) -> Callable[..., str]:
    """chromium(page, *flags) -> stdout of headless Chromium opening the file `page` with a fresh profile.

    Pass "--dump-dom" to get the DOM after the page's load (and --virtual-time-budget for any timers), or
    "--screenshot=PATH"; `console=[]` collects the page's console messages (errors, CSP violations) into that
    list."""
    profiles = tmp_path_factory.mktemp("chromium-profiles")

    def run(page: Path, *flags: str, console: list[str] | None = None) -> str:
        profile = profiles / str(len(list(profiles.iterdir())))
        logging = ("--enable-logging=stderr", "--v=0") if console is not None else ()
        done = subprocess.run([chromium_binary, *FLAGS, *logging, f"--user-data-dir={profile}", *flags,
                               Path(page).resolve().as_uri()],
                              capture_output=True, text=True, timeout=TIMEOUT_S)
        if done.returncode != 0:
            raise AssertionError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
        if console is not None:  # the page's console messages (errors, CSP violations, console.log)
            console.extend(line for line in done.stderr.splitlines() if ":CONSOLE" in line)
        return done.stdout

    return run
