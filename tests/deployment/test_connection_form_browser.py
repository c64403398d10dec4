"""The ``hubspot`` connection form in Airflow 3's UI, driven in headless Chromium (Debian's) by
Playwright. ``HUBTIX_SCREENSHOT_DIR=docs`` refreshes the screenshots kept in ``docs/``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deployment.conftest import Deployment

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
EXTRA_LABELS = (
    "API version",
    "Requests per 10 s",
    "Timeout (s)",
    "OAuth client id",
    "OAuth client secret",
    "OAuth refresh token",
)


@pytest.fixture
def page(chromium: str, tmp_path: Path) -> Iterator[Any]:
    """A page in headless Chromium with a fresh profile."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1000, "height": 1300},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def test_add_connection_shows_the_hubspot_form(deployment: Deployment, page: Any, tmp_path: Path) -> None:
    shots = Path(os.environ.get("HUBTIX_SCREENSHOT_DIR") or tmp_path)
    page.goto(f"{deployment.airflow.url}/connections", wait_until="networkidle")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[name=connection_id]").fill("hubspot_default")
    connection_type = dialog.get_by_role("combobox")
    connection_type.fill("HubSpot")
    page.get_by_role("option", name="HubSpot", exact=True).click()

    host = dialog.locator("input[name=host]")
    token = dialog.locator("input[name=password]")
    host.wait_for()
    assert dialog.get_by_text("Base URL", exact=True).is_visible()
    assert dialog.get_by_text("Access token", exact=True).is_visible()
    assert host.get_attribute("placeholder") == "https://api.hubapi.com"
    assert token.get_attribute("type") == "password"
    for hidden in ("login", "port", "schema"):
        assert dialog.locator(f"input[name={hidden}]").count() == 0, f"{hidden} should be hidden"
    dialog.screenshot(path=str(shots / "connection-form.png"))

    dialog.get_by_text("Extra Fields", exact=True).click()
    for label in EXTRA_LABELS:
        dialog.locator("label").filter(has_text=label).first.wait_for()
    assert dialog.locator("input[name=element_api_version]").input_value() == "v3"
    assert dialog.locator("input[name=element_client_secret]").get_attribute("type") == "password"
    dialog.screenshot(path=str(shots / "connection-form-extras.png"))
    assert (shots / "connection-form-extras.png").stat().st_size > 10_000
