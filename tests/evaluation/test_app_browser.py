"""``lipsync-app`` in a real headless browser: Debian's chromium, driven by Playwright (issue 18).

Upload the photo, type a sentence, choose English, press Generate, and wait
until the page's result ``<video>`` is playing (not paused, time advancing).
The screenshot goes to the test's folder; with ``UPDATE_DOCS=1`` also to
``docs/app.png``, which the README shows. Playwright's own browser downloads
are not used: chromium is the system package (``setup.sh`` installs it). A
machine without it skips this test, except under CI, where that fails.
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.helpers.app_helpers import ROOT, running_app, write_app_inputs

pytestmark = pytest.mark.timeout(600)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_browser_uploads_a_photo_types_text_and_plays_the_result(tmp_path):
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; setup.sh installs it (TEST_SYSTEM_PACKAGES)")
        pytest.skip("no chromium on PATH (apt-get install chromium, or ./setup.sh test)")
    from playwright.sync_api import sync_playwright

    files = write_app_inputs(tmp_path)
    # num_steps=2: the page's default steps from the command line, and a short test (20 take ~1 min here)
    with running_app(tmp_path, files, "num_steps=2") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(url, wait_until="networkidle")
            page.locator("#face-image input[type=file]").set_input_files(str(files["face"]))
            page.locator("#text textarea").fill("Hello there, welcome to the course.")
            page.locator("#lang").get_by_label("en", exact=True).check()
            page.locator("#face-image img").wait_for(timeout=30_000)  # the upload has landed
            page.locator("#generate").click()
            video = page.locator("#result video")
            video.wait_for(timeout=240_000)
            page.wait_for_function(
                "() => { const v = document.querySelector('#result video');"
                " return v && !v.paused && v.readyState >= 2 && v.currentTime > 0.2; }", timeout=60_000)
            assert page.locator("#scores").inner_text().count("expert") == 1
            assert page.locator("#steps input[type=number]").input_value() == "2"
            shot = tmp_path / "app.png"
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    if os.environ.get("UPDATE_DOCS") == "1":  # a 128-colour PNG: a quarter of the size, same look
        from PIL import Image

        (ROOT / "docs").mkdir(exist_ok=True)
        Image.open(shot).convert("RGB").quantize(128).save(ROOT / "docs" / "app.png", optimize=True)
