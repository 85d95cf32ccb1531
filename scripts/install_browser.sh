#!/usr/bin/env bash
# Installs the headless browser used by axion_pipeline_tests/test_ui_browser.py: Debian's Chromium
# at /usr/bin/chromium. Idempotent: does nothing when it is already there. The test drives it with
# Playwright for Python (the `playwright` package of the dev dependency group, installed by
# `make setup`), launched with executable_path=/usr/bin/chromium: `playwright install` (a browser
# download) is not used and not needed.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    echo "install_browser: $("$CHROMIUM" --version 2>/dev/null || echo chromium) already at $CHROMIUM"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: $CHROMIUM is missing and apt-get is not available on this machine." >&2
    echo "install_browser: install Chromium yourself so that $CHROMIUM exists, then rerun." >&2
    exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install_browser: $CHROMIUM is missing and installing it needs root." >&2
    echo "install_browser: run 'sudo apt-get update && sudo apt-get install -y chromium', then rerun." >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install_browser: installing Debian's chromium package"
apt-get update -qq
# Recommends stay on: they bring the fonts that make the screenshot's text readable.
apt-get install -y -qq chromium >/dev/null

if [ ! -x "$CHROMIUM" ]; then
    echo "install_browser: apt-get finished but $CHROMIUM is still missing." >&2
    exit 1
fi
echo "install_browser: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium) at $CHROMIUM"
