"""The suite never reads the working copy's ``schedules/``, ``templates/`` or
``.env``, nor the settings of the shell that starts it: a user who has
edited them (as the tutorial says to) still gets a green run.

Tests that want what the project ships read ``tests/data/shipped/`` (see
``tests/shipped.py``); ``tests/conftest.py`` gives every test an empty working
directory and strips the variables ``Settings`` reads.  Here a copy of the
test suite runs beside broken schedules, templates and ``.env``, with the
shell pointing at them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.shipped import ROOT, SHIPPED

#: Tests that read the shipped example, templates and defaults, from each tier.
SAMPLE = [
    "tests/unit/test_config.py",
    "tests/e2e/test_startup.py",
    "tests/e2e/test_daemon.py::test_bundled_example_runs_once_and_never_twice",
    "tests/integration/test_desk_cli.py::test_add_url_from_the_store_uses_the_routes[sqlite]",
    "tests/integration/test_desk_cli.py::test_preview_shows_the_image_and_its_alt_text[sqlite]",
    "tests/integration/test_desk_cli.py::test_list_builds_only_the_listing[sqlite]",
    "tests/integration/test_ingest.py",
    "tests/unit/test_golden.py",
]


def _git(*args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True).stdout


def test_the_shipped_copy_is_the_committed_one():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    committed = set(_git("ls-tree", "-r", "--name-only", "HEAD", "templates", "schedules",
                         "examples").decode().split())
    copied = {str(p.relative_to(SHIPPED)) for p in SHIPPED.rglob("*") if p.is_file()}
    assert copied == committed, "refresh tests/data/shipped (see tests/shipped.py)"
    for name in sorted(committed):
        assert (SHIPPED / name).read_bytes() == _git("show", f"HEAD:{name}"), (
            f"tests/data/shipped/{name} differs from HEAD: refresh it (see tests/shipped.py)")


@pytest.mark.slow  # a pytest run of its own
def test_a_working_copy_with_broken_files_still_passes(tmp_path):
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "tests", checkout / "tests",
                    ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
    shutil.copy(ROOT / "pyproject.toml", checkout)
    # What a user may have done to the working copy.
    (checkout / "schedules").mkdir()
    (checkout / "schedules" / "site.toml").write_text("[site\nthis is not TOML\n")
    for template in (SHIPPED / "templates").rglob("*.j2"):
        broken = checkout / "templates" / template.relative_to(SHIPPED / "templates")
        broken.parent.mkdir(parents=True, exist_ok=True)
        broken.write_text("{{ broken ")
    (checkout / "examples").mkdir()
    (checkout / "examples" / "newsroom.xml").write_text("<rss>not a feed")
    (checkout / ".env").write_text("DATABASE_URL=postgresql://nobody@127.0.0.1:1/nowhere\n"
                                   "PUBLISHER_WORKERS=not-a-number\n")
    env = {**os.environ,
           "DATABASE_URL": "sqlite:////nonexistent/dir/publisher.db",
           "PUBLISHER_SCHEDULES": str(checkout / "schedules"),
           "PUBLISHER_TEMPLATES": str(checkout / "templates"),
           "PUBLISHER_LEASE_SECONDS": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not postgres",
         "-x", *SAMPLE],
        cwd=checkout, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
