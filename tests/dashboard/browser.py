"""Headless Chromium for the dashboard's browser tests: Debian's `chromium` and
`chromium-driver`, installed with apt-get when missing (once per run), driven by selenium."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

PACKAGES = ["chromium", "chromium-driver"]
INSTALL_TIMEOUT = 900
# Not UTC, so the page's local midnights carry an offset (no daylight saving since 2019).
TIMEZONE = "America/Sao_Paulo"


def _binaries() -> tuple[str, str] | None:
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def _apt_get(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["apt-get", *args],
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )


@cache
def install_problem() -> str | None:
    """None when chromium and chromedriver are there (installed now if need be), else
    why they cannot be. Tried once per run."""
    if _binaries():
        return None
    if shutil.which("apt-get") is None:
        return "chromium and chromedriver are missing and apt-get is not available"
    if os.geteuid() != 0:
        return "chromium and chromedriver are missing and installing them needs root"
    done = _apt_get("install", "-y", *PACKAGES)
    if done.returncode != 0:  # the package lists may be stale or absent
        _apt_get("update")
        done = _apt_get("install", "-y", *PACKAGES)
    if done.returncode != 0 or not _binaries():
        return f"apt-get install {' '.join(PACKAGES)} failed: {done.stderr.strip()[-500:]}"
    return None


def start_chromium() -> WebDriver:
    found = _binaries()
    assert found, "call install_problem() first"
    browser, driver_path = found
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",  # the tests may run as root in a container
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--lang=en-US",
        "--window-size=1280,2000",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US"})
    # The console, errors and CSP reports included, for get_log("browser").
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    chrome.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": TIMEZONE})
    return chrome


def console_problems(chrome: WebDriver) -> list[dict[str, Any]]:
    """The console entries since the last call that are errors or CSP reports."""
    return [
        entry
        for entry in chrome.get_log("browser")
        if entry["level"] == "SEVERE"
        or "Content Security Policy" in entry["message"]
        or "Refused to" in entry["message"]
    ]
