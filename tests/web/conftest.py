"""A real browser for the pages the bot serves: Debian's headless Chromium through its
chromedriver (`apt-get install chromium chromium-driver`; `.ci/run` installs them).

`browser` gives a started `Browser`. Without Chromium or its driver the test is skipped with
the reason, except under CI (`CI=true`, as `.ci/run` sets it), where a missing browser is a
failure: the pages must be seen rendered there. Screenshots go under the test's `tmp_path`.

Selenium is synchronous; the bot under test runs on the test's event loop, so every browser
call runs in a thread (`await browser.get(...)`) and the loop keeps serving the page.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _missing() -> str | None:
    """Why no browser can be started here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (Path(path).is_file() and os.access(path, os.X_OK)) and not shutil.which(
            Path(path).name
        ):
            return f"{path} is missing: apt-get install {package}"
    return None


class Browser:
    """One headless Chromium; every method is awaited and runs off the event loop."""

    def __init__(self, driver: Any, shots: Path):
        self.driver = driver
        self.shots = shots

    async def get(self, url: str) -> None:
        await asyncio.to_thread(self.driver.get, url)

    async def run(self, fn: Callable[[Any], Any]) -> Any:
        """`fn(driver)` in the browser's thread."""
        return await asyncio.to_thread(fn, self.driver)

    async def text(self, css: str) -> str:
        from selenium.webdriver.common.by import By

        def read(driver: Any) -> str:
            found = driver.find_elements(By.CSS_SELECTOR, css)
            return found[0].text if found else ""

        return await self.run(read)

    async def texts(self, css: str) -> list[str]:
        from selenium.webdriver.common.by import By

        return await self.run(lambda d: [e.text for e in d.find_elements(By.CSS_SELECTOR, css)])

    async def attribute(self, css: str, name: str) -> list[str | None]:
        from selenium.webdriver.common.by import By

        return await self.run(
            lambda d: [e.get_attribute(name) for e in d.find_elements(By.CSS_SELECTOR, css)]
        )

    async def screenshot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        await asyncio.to_thread(self.driver.save_screenshot, str(path))
        return path


def require_browser(reason: str | None, environ: Mapping[str, str]) -> None:
    """Skip the test when there is no browser (`reason`), or fail it under CI."""
    if reason is None:
        return
    if environ.get("CI") == "true":
        pytest.fail(f"CI needs the browser tests to run: {reason}")
    pytest.skip(f"no headless Chromium: {reason}")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    require_browser(_missing(), os.environ)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    # --no-sandbox: Chromium's sandbox refuses to run as root (CI's containers are).
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800"):
        options.add_argument(flag)
    options.add_argument("--disable-dev-shm-usage")
    driver_path = CHROMEDRIVER if Path(CHROMEDRIVER).exists() else shutil.which("chromedriver")
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        yield Browser(driver, shots)
    finally:
        driver.quit()
