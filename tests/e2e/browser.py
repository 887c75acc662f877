"""A headless Chromium driven by Selenium, for the end-to-end tests of the dashboard.

It uses Debian's `chromium` and `chromium-driver` packages at their fixed paths
(`make browser` installs them). Giving Selenium both paths keeps Selenium Manager
from looking for, or downloading, a browser or a driver of its own.
"""
from __future__ import annotations

import os

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WINDOW = (1400, 900)

# Headless and quiet: no GPU, no sandbox (CI runs as root, where Chromium's sandbox
# refuses to start), and no background traffic, since the only network there is
# the loopback. /dev/shm is small in containers, so shared memory goes to /tmp.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--lang=en-US",
)


def missing_browser() -> str | None:
    """Why a browser cannot be started here, or None when it can."""
    absent = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if absent:
        return (f"{' and '.join(absent)} not found: the dashboard tests need Debian's chromium and "
                f"chromium-driver packages. Run `make browser` (as root) to install them.")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is not installed: run `make venv` (it installs requirements-dev.txt)."
    return None


def headless_chromium(profile_dir: str, page_load_timeout: float = 30):
    """A fresh headless Chromium with its own profile folder; the caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(page_load_timeout)
    return driver
