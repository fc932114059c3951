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


def browser(profile: Path, width: int = 1000, height: int = 800):
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
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
    ]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


def text(driver, element: str) -> str:
    return driver.find_element(By.ID, element).text


def state(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").get_attribute("data-state")


def waitFor(driver, condition, timeout: float = 30):
    WebDriverWait(driver, timeout).until(lambda d: condition(d))


def join(driver, url: str, name: str) -> None:
    driver.get(url)
    waitFor(driver, lambda d: state(d) == "open")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "join-button").click()
    waitFor(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-joined"))


def consoleErrors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def serveChat(port: int):
    return startTwistd(
        "--handler",
        "examples.chat.handler",
        "--static",
        "examples/chat/static",
        "--port",
        f"tcp:{port}:interface=127.0.0.1",
        cwd=ROOT,
    )


def test_two_browsers_chat(tmp_path):
    """
    The chat example between two real Chromiums (one phone-sized): each sees
    the other join by name, a message from one reaches both (set apart as
    one's own), nothing goes wrong in the console, and when the server goes
    away both show it, refuse input, and rejoin once it is back.
    """
    port = freePort()
    url = f"http://127.0.0.1:{port}/"
    server = serveChat(port)
    drivers = []
    try:
        waitListening(port, server)
        alice = browser(tmp_path / "alice")
        bob = browser(tmp_path / "bob", width=420, height=800)
        drivers += [alice, bob]
        join(alice, url, "alice")
        join(bob, url, "bob")
        waitFor(bob, lambda d: "You joined alice" in text(d, "log"))
        waitFor(alice, lambda d: "bob joined" in text(d, "log"))
        waitFor(alice, lambda d: text(d, "members") == "2 here")

        alice.find_element(By.ID, "text").send_keys("hello from a real browser")
        alice.find_element(By.ID, "send").click()
        waitFor(bob, lambda d: "hello from a real browser" in text(d, "log"))
        waitFor(alice, lambda d: d.find_elements(By.CSS_SELECTOR, ".message.mine"))
        theirs = bob.find_element(By.CSS_SELECTOR, ".message .meta").text
        assert theirs.startswith("alice · ")
        assert not bob.find_elements(By.CSS_SELECTOR, ".message.mine")
        assert alice.find_element(By.CSS_SELECTOR, ".message.mine .meta").text.startswith("you")
        bob.save_screenshot(str(tmp_path / "bob.png"))
        assert consoleErrors(alice) == [] and consoleErrors(bob) == []

        stop(server)
        for driver in drivers:
            waitFor(driver, lambda d: state(d) == "closed")
            assert "retrying in" in text(driver, "status")
            assert not driver.find_element(By.ID, "text").is_enabled()

        server = serveChat(port)
        waitListening(port, server)
        for driver in drivers:
            waitFor(
                driver,
                lambda d: state(d) == "open" and d.find_element(By.ID, "text").is_enabled(),
                60,
            )
        waitFor(alice, lambda d: text(d, "members") == "2 here")
    finally:
        for driver in drivers:
            driver.quit()
        stop(server)
