"""The web desk in a real browser: headless Chromium (Debian's ``chromium``
and ``chromium-driver``, driven by selenium pointed at those executables;
nothing downloads a browser) against the daemon's HTTP app on 127.0.0.1.

Sign-in, a new post with an image, approving a draft, cancelling, the log
updating by itself, the pages with JavaScript off, hostile text that must not
run, and the phone layout.  A screenshot of each page is saved under
``var/screenshots/`` of the working copy (or ``$PUBLISHER_SCREENSHOTS``).

Skipped with the reason when Chromium or its driver is missing; under CI
(``CI`` set, as ``.ci/run`` does) a missing browser is a failure instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.services import desk
from publisher.types import Outcome, PostStatus
from tests.conftest import unavailable
from tests.integration.webdesk_site import PASSWORD, DeskSite, png, start_site

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("PUBLISHER_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("PUBLISHER_CHROMEDRIVER", "/usr/bin/chromedriver")
SHOTS = Path(os.environ.get("PUBLISHER_SCREENSHOTS") or ROOT / "var" / "screenshots")
WAIT = 20  # seconds a condition may take before the test fails (not a speed check)


def _browser_missing() -> str | None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (shutil.which(p) or Path(p).is_file())]
    if missing:
        return (f"no {' and no '.join(missing)}: install Debian's chromium and "
                "chromium-driver (apt-get install -y chromium chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def _chromium() -> None:
    reason = _browser_missing()
    if reason:
        unavailable(f"browser tests: {reason}")


def _driver(*, javascript: bool = True, width: int = 1280, height: int = 900) -> object:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--no-first-run", "--disable-extensions", "--disable-background-networking",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    if not javascript:
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT)
    return driver


@pytest.fixture
def site(tmp_path: Path, _chromium: None) -> Iterator[DeskSite]:
    s = start_site(tmp_path)
    try:
        s.add_user("ana", "editor")
        s.add_user("olga", "ops")
        yield s
    finally:
        s.close()


@pytest.fixture
def browser(_chromium: None) -> Iterator[object]:
    driver = _driver()
    try:
        yield driver
    finally:
        driver.quit()  # type: ignore[attr-defined]


def shot(driver: object, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(SHOTS / f"{name}.png"))  # type: ignore[attr-defined]


def sign_in(driver: object, site: DeskSite, name: str, *, screenshot: bool = False) -> None:
    from selenium.webdriver.common.by import By

    d: object = driver
    d.get(f"{site.url}/desk/queue")  # type: ignore[attr-defined]
    assert "/desk/sign-in" in d.current_url  # type: ignore[attr-defined]
    d.find_element(By.ID, "name").send_keys(name)  # type: ignore[attr-defined]
    d.find_element(By.ID, "password").send_keys(PASSWORD)  # type: ignore[attr-defined]
    if screenshot:
        shot(d, "sign-in")
    d.find_element(By.ID, "sign-in").click()  # type: ignore[attr-defined]
    _wait(d, lambda drv: drv.current_url.endswith("/desk/queue"))


def _wait(driver: object, condition: object) -> object:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT).until(condition)  # type: ignore[arg-type]


def test_sign_in_new_post_with_image_approve_cancel_and_the_log(
        site: DeskSite, browser: object, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    d: object = browser
    sign_in(d, site, "ana", screenshot=True)
    # A new post with an image, for tomorrow 7:30, on the channel that needs approval.
    picture = tmp_path / "red.png"
    picture.write_bytes(png(320, 200))
    d.get(f"{site.url}/desk/new")  # type: ignore[attr-defined]
    assert d.execute_script("return typeof window.htmx") == "object"  # type: ignore[attr-defined]
    d.find_element(By.ID, "new-text").send_keys("Our new bridge opens today")  # type: ignore[attr-defined]
    d.find_element(By.CSS_SELECTOR, "input[name=channel][value=review]").click()  # type: ignore[attr-defined]
    # The live preview (htmx) counts the text for the channel.
    _wait(d, lambda drv: drv.find_elements(By.ID, "preview-review"))
    d.find_element(By.ID, "new-at").send_keys("tomorrow 7:30")  # type: ignore[attr-defined]
    d.find_element(By.ID, "new-image").send_keys(str(picture))  # type: ignore[attr-defined]
    d.find_element(By.ID, "new-alt").send_keys("A red square")  # type: ignore[attr-defined]
    shot(d, "new-post")
    d.find_element(By.ID, "queue-button").click()  # type: ignore[attr-defined]
    _wait(d, lambda drv: "/desk/post/" in drv.current_url)
    post_id = int(d.current_url.split("/desk/post/")[1].split("?")[0])  # type: ignore[attr-defined]
    item = site.app.store.get_post(post_id)
    assert item.status is PostStatus.DRAFT and item.created_by == "editor:ana"
    assert item.image is not None and item.image.alt == "A red square"
    # The preview shows the image through the daemon, loaded by the browser.
    img = d.find_element(By.CSS_SELECTOR, "#preview img")  # type: ignore[attr-defined]
    _wait(d, lambda drv: drv.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth", img) == 320)
    assert "approve" in d.find_element(By.ID, "why").text  # type: ignore[attr-defined]
    shot(d, "post")
    # Approve the draft.
    d.find_element(By.ID, "approve").click()  # type: ignore[attr-defined]
    _wait(d, lambda drv: "done=approve" in drv.current_url)
    assert site.app.store.get_post(post_id).status is PostStatus.QUEUED
    assert "approved" in d.find_element(By.ID, "done").text  # type: ignore[attr-defined]
    # Cancel it.
    d.find_element(By.ID, "cancel").click()  # type: ignore[attr-defined]
    _wait(d, lambda drv: "done=cancel" in drv.current_url)
    assert site.app.store.get_post(post_id).status is PostStatus.CANCELLED
    # The log updates by itself while it is open.
    d.get(f"{site.url}/desk/log")  # type: ignore[attr-defined]
    assert "platform said no" not in d.page_source  # type: ignore[attr-defined]
    rows = d.find_element(By.ID, "log-rows").text  # type: ignore[attr-defined]
    assert "approved by ana" in rows and "cancelled by ana" in rows
    site.app.store.log_event(post_id, worker="w1", now=site.app.now(), outcome=Outcome.FAILED,
                             error="platform said no")
    _wait(d, lambda drv: "platform said no" in drv.find_element(By.ID, "log-rows").text)
    shot(d, "log")
    for page in ("queue", "week", "activity", "health"):
        d.get(f"{site.url}/desk/{page}")  # type: ignore[attr-defined]
        assert d.find_element(By.TAG_NAME, "h1").text  # type: ignore[attr-defined]
        shot(d, page)


def test_every_action_works_with_javascript_off(site: DeskSite, _chromium: None) -> None:
    from selenium.webdriver.common.by import By

    d: object = _driver(javascript=False)
    try:
        draft = desk.add_posts(site.app, by="x", text="Needs an editor",
                               channels=["review"]).posts[0].id
        sign_in(d, site, "olga")
        d.get(f"{site.url}/desk/post/{draft}")  # type: ignore[attr-defined]
        # The page's scripts did not run: htmx never loaded.
        assert d.execute_script("return typeof window.htmx") == "undefined"  # type: ignore[attr-defined]
        d.find_element(By.ID, "approve").click()  # type: ignore[attr-defined]
        _wait(d, lambda drv: "done=approve" in drv.current_url)
        assert site.app.store.get_post(draft).status is PostStatus.QUEUED
        # New post without the live preview: the Preview button renders it.
        d.get(f"{site.url}/desk/new")  # type: ignore[attr-defined]
        d.find_element(By.ID, "new-text").send_keys("Plain form post")  # type: ignore[attr-defined]
        d.find_element(By.CSS_SELECTOR, "input[name=channel][value=wire]").click()  # type: ignore[attr-defined]
        d.find_element(By.ID, "preview-button").click()  # type: ignore[attr-defined]
        _wait(d, lambda drv: drv.find_elements(By.ID, "preview-wire"))
        d.find_element(By.ID, "queue-button").click()  # type: ignore[attr-defined]
        _wait(d, lambda drv: "done=queued" in drv.current_url)
        # The stop button, behind its confirmation.
        d.get(f"{site.url}/desk/health")  # type: ignore[attr-defined]
        d.find_element(By.ID, "pause-reason").send_keys("hold everything")  # type: ignore[attr-defined]
        d.find_element(By.ID, "pause-confirm").click()  # type: ignore[attr-defined]
        d.find_element(By.ID, "pause-button").click()  # type: ignore[attr-defined]
        _wait(d, lambda drv: drv.find_elements(By.ID, "done"))
        assert all(s.paused for s in site.app.store.channel_states().values())
        shot(d, "health-paused")
    finally:
        d.quit()  # type: ignore[attr-defined]


def test_hostile_text_does_not_run_in_the_browser(site: DeskSite, browser: object) -> None:
    from selenium.webdriver.common.by import By

    d: object = browser
    hostile = ('<script>window.__pwned = 1</script>"><img src=x onerror="window.__pwned=2">'
               "\u202eevil")
    post_id = desk.add_posts(site.app, by="x", text=hostile, channels=["review"]).posts[0].id
    site.app.store.log_event(post_id, worker=hostile, now=site.app.now(),
                             outcome=Outcome.FAILED, error=hostile,
                             remote_url="javascript:window.__pwned=3")
    sign_in(d, site, "ana")
    for path in (f"/desk/post/{post_id}", "/desk/queue", "/desk/log"):
        d.get(f"{site.url}{path}")  # type: ignore[attr-defined]
        assert d.execute_script("return window.__pwned") is None, path  # type: ignore[attr-defined]
        assert not d.find_elements(By.CSS_SELECTOR, "main img[src=x]"), path  # type: ignore[attr-defined]
        assert not d.find_elements(By.CSS_SELECTOR, "a[href^=javascript]"), path  # type: ignore[attr-defined]
    d.get(f"{site.url}/desk/post/{post_id}")  # type: ignore[attr-defined]
    assert "<script>window.__pwned = 1</script>" in d.find_element(By.ID, "text").text  # type: ignore[attr-defined]


def test_one_column_on_a_phone(site: DeskSite, _chromium: None) -> None:
    from selenium.webdriver.common.by import By

    d: object = _driver(width=390, height=844)
    try:
        post_id = desk.add_posts(site.app, by="x", text="Small screens",
                                 channels=["wire"]).posts[0].id
        sign_in(d, site, "ana")
        d.get(f"{site.url}/desk/post/{post_id}")  # type: ignore[attr-defined]
        columns = d.execute_script(  # type: ignore[attr-defined]
            "return getComputedStyle(document.querySelector('.columns'))"
            ".gridTemplateColumns")
        assert len(columns.split()) == 1, columns
        width = d.execute_script("return document.documentElement.scrollWidth")  # type: ignore[attr-defined]
        inner = d.execute_script("return window.innerWidth")  # type: ignore[attr-defined]
        assert width <= inner
        shot(d, "phone-post")
        d.get(f"{site.url}/desk/queue")  # type: ignore[attr-defined]
        assert d.find_element(By.ID, "queue")  # type: ignore[attr-defined]
        shot(d, "phone-queue")
    finally:
        d.quit()  # type: ignore[attr-defined]
