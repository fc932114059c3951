"""
The chat demo end to end in headless Chromium: two browsers join, one
sends, the other shows the message. Needs Debian's chromium and
chromium-driver (.ci/run installs them) and selenium.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .test_tap import ROOT, freePort, startTwistd, stop, waitListening

pytestmark = [pytest.mark.browser, pytest.mark.sockets]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    pytest.skip("Debian's chromium and chromium-driver are not installed", allow_module_level=True)

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def browser(profile: Path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
    ]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


def test_two_browsers_chat(tmp_path):
    """
    The chat example between two real Chromiums: both see each other join, and a message typed
    by one appears in the other's log.
    """
    port = freePort()
    server = startTwistd(
        "--handler",
        "examples.chat.handler",
        "--static",
        "examples/chat",
        "--port",
        f"tcp:{port}:interface=127.0.0.1",
        cwd=ROOT,
    )
    drivers = []
    try:
        waitListening(port, server)
        for name in ("alice", "bob"):
            driver = browser(tmp_path / name)
            drivers.append(driver)
            driver.get(f"http://127.0.0.1:{port}/")
            WebDriverWait(driver, 20).until(
                lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1"
            )
        alice, bob = drivers
        # Bob sees Alice... and himself join: two people in the room.
        WebDriverWait(bob, 20).until(lambda d: "2 here" in d.find_element(By.ID, "log").text)
        alice.find_element(By.ID, "name").send_keys("alice")
        alice.find_element(By.ID, "text").send_keys("hello from a real browser")
        alice.find_element(By.ID, "send").click()
        WebDriverWait(bob, 20).until(
            lambda d: "alice: hello from a real browser" in d.find_element(By.ID, "log").text
        )
        WebDriverWait(alice, 20).until(
            lambda d: "alice: hello from a real browser" in d.find_element(By.ID, "log").text
        )
    finally:
        for driver in drivers:
            driver.quit()
        stop(server)
