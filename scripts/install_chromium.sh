#!/usr/bin/env bash
# Install a headless-capable Chromium for the leaderboard browser tests (tests/browser/), where missing.
#
#     bash scripts/install_chromium.sh        # idempotent: does nothing when a browser is already there
#
# The tests look for $CHROMIUM, then chromium, chromium-browser, google-chrome-stable, google-chrome on PATH;
# this script checks the same names, so a machine that already has one (CI runners with Chrome) installs
# nothing. Otherwise it installs Debian's `chromium` package with apt-get (root, or sudo when available).
# On Ubuntu the `chromium` package is a snap wrapper that does not work in containers: use Chrome there.
set -euo pipefail

for name in "${CHROMIUM:-}" chromium chromium-browser google-chrome-stable google-chrome; do
  if [ -n "$name" ] && command -v "$name" >/dev/null 2>&1; then
    echo "install_chromium.sh: found $(command -v "$name"); nothing to install"
    exit 0
  fi
done

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_chromium.sh: no apt-get here; install Chromium or Chrome yourself (or set CHROMIUM=/path/to/it)" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install_chromium.sh: need root or sudo to run apt-get install chromium" >&2
    exit 1
  fi
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# fonts-dejavu-core: some glyphs for screenshots; recommends (GPU drivers, extra fonts) are not needed headless
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
echo "install_chromium.sh: installed $(chromium --version)"
