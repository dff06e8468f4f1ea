"""deploy/: the systemd unit (checked by systemd-analyze where it exists), the
Prometheus rules and the Grafana dashboard name only metrics that /metrics
exports, and the package installs with pipx."""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from publisher.web.metrics import METRICS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / "publisher.service").read_text())
    return parser


def test_unit_hardening_and_lifecycle():
    service = unit()["Service"]
    assert service["User"] not in ("", "root")
    assert service["ProtectSystem"] == "strict"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ReadWritePaths"].endswith("/var")
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["Restart"] == "on-failure"
    assert service["ExecStart"].endswith("publisher run")
    # Longer than the daemon's 20 s grace for posts in flight.
    assert int(service["TimeoutStopSec"].rstrip("s")) > 20


def test_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    # verify checks that ExecStart exists: point it at this checkout's command.
    command = Path(sys.executable).with_name("publisher")
    text = (DEPLOY / "publisher.service").read_text()
    text = text.replace("/opt/publisher/bin/publisher", str(command))
    path = tmp_path / "publisher.service"
    path.write_text(text)
    done = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True,
                          timeout=60)
    # verify exits 0 on unknown keys and bad values and only prints them.
    complaints = [line for line in (done.stdout + done.stderr).splitlines()
                  if "publisher.service" in line]
    assert done.returncode == 0 and complaints == [], done.stdout + done.stderr


def exported(expr: str) -> set[str]:
    names = set(re.findall(r"\b(publisher_[a-z_]+|process_[a-z_]+)\b", expr))
    return {re.sub(r"_(bucket|count|sum)$", "", n) for n in names}


def documented() -> set[str]:
    return {name for name in METRICS if name != "process_*"}


def test_alert_rules_use_documented_metrics():
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    [group] = rules["groups"]
    assert len(group["rules"]) >= 5
    for rule in group["rules"]:
        assert set(rule) >= {"alert", "expr", "annotations"}, rule
        for name in exported(str(rule["expr"])):
            assert name in documented() or name.startswith("process_"), (rule["alert"], name)


def test_grafana_dashboard_uses_documented_metrics():
    dashboard = json.loads((DEPLOY / "grafana.json").read_text())
    assert dashboard["uid"] == "publisher"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            for name in exported(target["expr"]):
                assert name in documented() or name.startswith("process_"), (panel["title"],
                                                                              name)


@pytest.mark.slow
def test_pipx_install(tmp_path):
    pipx = shutil.which("pipx")
    if pipx is None:
        pytest.skip("pipx is not installed (pip install pipx, or apt-get install pipx)")
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "var", "*.egg-info", "__pycache__", ".env", "tests"))
    env = {"PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": str(tmp_path / "bin"),
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([pipx, "install", str(source)], capture_output=True, text=True,
                          env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    version = subprocess.run([str(tmp_path / "bin" / "publisher"), "--help"],
                             capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and "run" in version.stdout
