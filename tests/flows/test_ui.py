"""The Prefect UI as the control room: `webtext server`, a tiny pipeline run through it, and headless
Chromium (Debian's, driven by Playwright) finding the run, its stage subflows and their artifacts.

`make test` installs Chromium; run alone without it, the test is skipped.
"""

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "ui-screenshots"
# Flags for a sandboxed, offline machine: no background traffic to hosts it cannot reach.
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed (make test "
                                                                     "installs Debian's chromium)")]


@pytest.fixture(scope="module")
def server(served_home) -> str:
    return served_home.url


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield browser.new_page(viewport={"width": 1400, "height": 1000})
        browser.close()


def settle(page) -> None:
    page.wait_for_load_state("networkidle", timeout=30_000)


def test_the_ui_shows_the_pipeline_run_and_its_stage_subflows(server, page):
    page.goto(f"{server}/runs")
    settle(page)
    link = page.get_by_text("pipeline-", exact=False).first
    link.wait_for(timeout=30_000)
    link.click()
    settle(page)
    page.get_by_text("Subflow runs", exact=False).first.click()
    settle(page)
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "pipeline-run.png"), full_page=True)
    text = page.inner_text("body")
    # ten to a page, newest first: the twelve stages' subflows end with `crawl` and `source` on page 2
    assert "Page 1 of 2" in text
    for stage in ("extract-", "tokenize-", "pretrain-", "sft-", "align-", "evaluate-", "register-",
                  "report-"):
        assert stage in text, f"{stage} subflow not shown"


def test_the_ui_shows_the_stage_artifacts(server, page):
    page.goto(f"{server}/artifacts")
    settle(page)
    page.get_by_text("source-funnel").first.wait_for(timeout=30_000)
    page.screenshot(path=str(SCREENSHOTS / "artifacts.png"), full_page=True)
    text = page.inner_text("body")
    for key in ("source-funnel", "crawl-status", "extract-funnel", "tokenize-summary", "pretrain-curve",
                "eval-webtext-tiny", "registry-webtext-tiny"):
        assert key in text, f"artifact {key} not shown"
