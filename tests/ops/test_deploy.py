"""The deployment files are real: systemd units pass `systemd-analyze verify`, the nginx site passes
`nginx -t` and, in front of the app under gunicorn, answers over TLS with the headers the app needs, the
PostgreSQL settings start a server, and every metric an alert rule names is one the code exports."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml

from tests.browser import free_port
from tests.conftest import ROOT
from tests.ops.pg_server import own_postgres
from tests.streams import wait_for

DEPLOY = ROOT / "deploy"


def _units_for_verify(tmp_path: Path) -> list[Path]:
    """The units with /opt/gridpulse pointed at this checkout (verify checks that ExecStart exists)."""
    env_dir = tmp_path / "etc"
    env_dir.mkdir()
    (env_dir / "gridpulse.env").write_text("")
    out = []
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        body = unit.read_text().replace("/opt/gridpulse", str(ROOT)).replace("/etc/gridpulse/", f"{env_dir}/")
        name = unit.name.replace("@.", "@9101." if "ingest" in unit.name else "@1.")
        (tmp_path / name).write_text(body)
        out.append(tmp_path / name)
    return out


def test_systemd_units_verify(tmp_path: Path) -> None:
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed here")
    if not (ROOT / ".venv" / "bin" / "gridpulse").exists():
        pytest.fail("the units start .venv/bin/gridpulse: run make venv first")
    units = _units_for_verify(tmp_path)
    assert {u.name for u in units} >= {"gridpulse.service", "gridpulse-app.service", "gridpulse-ingest@9101.service",
                                       "gridpulse-bridge@1.service", "gridpulse-schedule.service"}
    done = subprocess.run(["systemd-analyze", "verify", *map(str, units)], capture_output=True, text=True)
    # Unknown keys and bad values are only warnings (exit 0): any output at all is a finding.
    assert done.returncode == 0 and done.stderr.strip() == "" and done.stdout.strip() == "", done.stderr


def test_systemd_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: the same call on a unit with a typo says so."""
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed here")
    unit = _units_for_verify(tmp_path)[0]
    unit.write_text(unit.read_text().replace("Restart=", "Restrat="))
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert "Restrat" in done.stderr


def _nginx_site(tmp_path: Path, app_port: int, https_port: int) -> Path:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "privkey.pem"),
                    "-out", str(tmp_path / "fullchain.pem"), "-days", "1", "-subj", "/CN=grid.example.gov.cn"],
                   check=True, capture_output=True)
    site = (DEPLOY / "nginx" / "gridpulse.conf").read_text()
    site = site.replace("/etc/ssl/gridpulse/", f"{tmp_path}/").replace("127.0.0.1:8050", f"127.0.0.1:{app_port}")
    site = re.sub(r"listen (\[::\]:)?80;", lambda m: f"listen {m.group(1) or ''}{free_port()};", site)
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;", 1)
    site = re.sub(r"\n    listen \[::\]:443 ssl http2;", "", site)
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{free_port()} ssl http2;")
    (tmp_path / "site.conf").write_text(site)
    main = tmp_path / "nginx.conf"
    main.write_text(textwrap.dedent(f"""\
        pid {tmp_path}/nginx.pid;
        error_log {tmp_path}/error.log;
        daemon off;
        events {{}}
        http {{
            access_log off;
            client_body_temp_path {tmp_path}/body;
            proxy_temp_path {tmp_path}/proxy;
            include {tmp_path}/site.conf;
        }}
        """))
    return main


def test_nginx_site_serves_the_app_over_tls_with_its_headers(tmp_path: Path, database_url: str) -> None:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        pytest.skip("nginx is not installed here (apt-get install nginx)")
    app_port, https_port = free_port(), free_port()
    conf = _nginx_site(tmp_path, app_port, https_port)
    checked = subprocess.run([nginx, "-t", "-c", str(conf), "-p", str(tmp_path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    env = {**os.environ, "GRIDPULSE_PORT": str(app_port), "GRIDPULSE_APP_WORKERS": "1",
           "GRIDPULSE_METRICS_DIR": str(tmp_path / "metrics"), "GRIDPULSE_LOG_DIR": str(tmp_path / "log")}
    app = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--only", "app"], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxy = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"https://127.0.0.1:{https_port}"
    try:
        def up() -> bool:
            try:
                return httpx.get(base + "/login", verify=False, timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_for(up, 120, 0.5), (tmp_path / "error.log").read_text()
        page = httpx.get(base + "/login", verify=False, timeout=10)
        assert page.headers["strict-transport-security"].startswith("max-age=31536000")
        assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        refused = httpx.get(base + "/", verify=False, timeout=10, follow_redirects=False)
        assert refused.status_code == 302 and refused.headers["location"].startswith("/login")  # the guard, via the proxy
        assert httpx.get(base + "/healthz", verify=False, timeout=10).status_code == 200  # from loopback: allowed
    finally:
        proxy.send_signal(signal.SIGQUIT)
        app.send_signal(signal.SIGTERM)
        proxy.wait(timeout=30)
        app.wait(timeout=60)


def test_postgresql_settings_start_a_server() -> None:
    with own_postgres() as pg:
        conf_d = pg.data / "conf.d"
        conf_d.mkdir()
        # The settings as shipped, with the memory scaled down to this test machine.
        body = (DEPLOY / "postgresql" / "gridpulse.conf").read_text()
        body = re.sub(r"shared_buffers = \S+", "shared_buffers = 128MB", body)
        body = re.sub(r"effective_cache_size = \S+", "effective_cache_size = 512MB", body)
        body = re.sub(r"maintenance_work_mem = \S+", "maintenance_work_mem = 64MB", body)
        archive = pg.data / "wal-archive"  # the archive directory of this server, not the machine's
        archive.mkdir()
        assert "/var/lib/postgresql/wal-archive/%f" in body
        body = body.replace("/var/lib/postgresql/wal-archive", str(archive))
        (conf_d / "gridpulse.conf").write_text(body)
        with open(pg.data / "postgresql.conf", "a") as fh:
            fh.write("include_dir = 'conf.d'\n")
        if os.geteuid() == 0:
            shutil.chown(archive, "postgres", "postgres")
            shutil.chown(conf_d, "postgres", "postgres")
            shutil.chown(conf_d / "gridpulse.conf", "postgres", "postgres")
        pg.stop()
        pg.start()
        with psycopg.connect(pg.admin_url) as conn:
            assert conn.execute("SHOW random_page_cost").fetchone()[0] == "1.1"
            assert conn.execute("SHOW max_connections").fetchone()[0] == "200"
            assert conn.execute("SHOW wal_compression").fetchone()[0] == "lz4"
            assert conn.execute("SHOW archive_mode").fetchone()[0] == "on"
            # the shipped archive_command works: a finished segment lands in the archive directory
            segment = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()[0]
            assert wait_for(lambda: (archive / segment).is_file(), 60, 0.3), conn.execute(
                "SELECT * FROM pg_stat_archiver").fetchone()
            bad = conn.execute("SELECT name, error FROM pg_file_settings WHERE error IS NOT NULL").fetchall()
            assert bad == []


def _exported_metrics() -> set[str]:
    names: set[str] = set()
    for path in ROOT.glob("*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts:
            continue
        names.update(re.findall(r'"(gridpulse_[a-z_]+)"', path.read_text(encoding="utf-8")))
    return names


def test_every_metric_an_alert_names_is_exported() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "gridpulse-rules.yml").read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"]]
    assert {"GridPulseIngestLagging", "GridPulseBridgeOffline", "GridPulseOutboxGrowing", "GridPulseGateSilent"} <= {
        a["alert"] for a in alerts}
    exported = _exported_metrics()
    suffixes = ("_total", "_bucket", "_count", "_sum", "_created")
    for alert in alerts:
        for name in re.findall(r"\bgridpulse_[a-z_]+", alert["expr"]):
            base = next((name[: -len(s)] for s in suffixes if name.endswith(s) and name[: -len(s)] in exported), name)
            assert base in exported or name in exported, f"{alert['alert']} names {name}, which nothing exports"
