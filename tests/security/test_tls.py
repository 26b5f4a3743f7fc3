"""Issue 16 item 8: TLS. The bridge and the resident services serve HTTPS from the certificate paths in
config; a client that insists on plain HTTP gets nothing, and a half-configured service refuses to start
with one line to act on. The app runs behind a TLS proxy: a login that came over HTTPS (the proxy's
X-Forwarded-Proto) gets a session cookie marked Secure, so the browser never sends it in clear text."""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import text

from blockdata.db import transaction
from core.passwords import hash_password
from dashboard.auth import SESSION_COOKIE
from tests.browser import free_port
from tests.gate_fixtures import GateWorld, build_gate_world, remove_gate_world
from tests.security.roles import role_url

ROOT = Path(__file__).resolve().parents[2]
GRIDPULSE = str(Path(sys.executable).parent / "gridpulse")


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A self-signed certificate for 127.0.0.1 (a real deployment's comes from its CA)."""
    home = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gridpulse test")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                   .sign(key, hashes.SHA256()))
    (home / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (home / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
    (home / "key.pem").chmod(0o600)
    return {"cert": home / "cert.pem", "key": home / "key.pem"}


@pytest.fixture(scope="module")
def world(database_url: str):  # noqa: ANN201
    w = build_gate_world(fake_faces_seed=8)
    yield w
    remove_gate_world(w)


def serve(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([GRIDPULSE, *args], env={**os.environ, **env}, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_up(proc: subprocess.Popen, url: str, verify: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else "exited"
        try:
            httpx.get(url, verify=verify, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within 60 s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def refuses_plain_http(url: str) -> bool:
    try:
        res = httpx.get(url, timeout=3)
    except httpx.HTTPError:
        return True
    return res.status_code >= 400 and "gallery_size" not in res.text


def test_the_bridge_serves_https_and_decides_over_it(world: GateWorld, cert: dict[str, Path], tmp_path: Path) -> None:
    port = free_port()
    proc = serve(["bridge", "--compound", str(world.compound_a), "--port", str(port), "--no-face-models"],
                 {"GRIDPULSE_BRIDGE_TLS_CERT": str(cert["cert"]), "GRIDPULSE_BRIDGE_TLS_KEY": str(cert["key"]),
                  "GRIDPULSE_DATABASE_URL": role_url("gridpulse_bridge"), "GRIDPULSE_BRIDGE_OUTBOX_DIR": str(tmp_path),
                  "GRIDPULSE_REDIS_PREFIX": f"gpgatetrust:tls{uuid.uuid4().hex[:6]}:"})
    try:
        wait_up(proc, f"https://127.0.0.1:{port}/v1/health", str(cert["cert"]))
        res = httpx.post(f"https://127.0.0.1:{port}/v1/gates/{world.gate_a}/card", json={"person_id": world.people["owner"]},
                         headers={"X-Gate-Key": world.gate_key}, verify=str(cert["cert"]))
        assert res.status_code == 200 and res.json()["result"] == "open"
        assert refuses_plain_http(f"http://127.0.0.1:{port}/v1/health")
        with pytest.raises(httpx.ConnectError):  # a client that checks certificates against the system's CAs
            httpx.get(f"https://127.0.0.1:{port}/v1/health", timeout=3)
    finally:
        stop(proc)


def test_the_resident_services_serve_https(cert: dict[str, Path], database_url: str) -> None:
    port = free_port()
    proc = serve(["residents-api", "--port", str(port)],
                 {"GRIDPULSE_RESIDENTS_TLS_CERT": str(cert["cert"]), "GRIDPULSE_RESIDENTS_TLS_KEY": str(cert["key"]),
                  "GRIDPULSE_DATABASE_URL": role_url("gridpulse_residents")})
    try:
        wait_up(proc, f"https://127.0.0.1:{port}/openapi.json", str(cert["cert"]))
        res = httpx.get(f"https://127.0.0.1:{port}/v1/me/dwellings", verify=str(cert["cert"]))
        assert res.status_code == 401  # served over TLS, and still asks for the app's token
        assert refuses_plain_http(f"http://127.0.0.1:{port}/openapi.json")
    finally:
        stop(proc)


@pytest.mark.parametrize("service, args", [("BRIDGE", ["bridge", "--compound", "1", "--no-face-models"]),
                                           ("RESIDENTS", ["residents-api"])])
@pytest.mark.parametrize("half", ["cert only", "missing file"])
def test_a_half_configured_tls_refuses_to_start_with_one_line(cert: dict[str, Path], service: str, args: list[str],
                                                               half: str) -> None:
    env = {f"GRIDPULSE_{service}_TLS_CERT": str(cert["cert"])}
    if half == "missing file":
        env[f"GRIDPULSE_{service}_TLS_KEY"] = str(cert["key"].with_name("nope.pem"))
    proc = serve([*args, "--port", str(free_port())], env)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert f"GRIDPULSE_{service}_TLS_KEY" in output and "Traceback" not in output


@pytest.fixture(scope="module")
def account(database_url: str):  # noqa: ANN201
    username, password = f"tls-{uuid.uuid4().hex[:8]}", "correct horse battery"
    with transaction() as s:
        s.execute(text("INSERT INTO account (username, display_name, role, password_hash) VALUES (:u, 'TLS test', 'admin', :h)"),
                  {"u": username, "h": hash_password(password)})
    yield username, password
    with transaction() as s:
        s.execute(text("DELETE FROM account WHERE username = :u"), {"u": username})


@pytest.fixture(scope="module")
def app_behind_proxy(database_url: str):  # noqa: ANN201
    port = free_port()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "GRIDPULSE_PORT": str(port), "GRIDPULSE_TRUSTED_PROXY": "1",
                                 "GRIDPULSE_DATABASE_URL": role_url("gridpulse_app")})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(proc, base + "/login", "")
        yield base
    finally:
        stop(proc)


def _login(base: str, account: tuple[str, str], headers: dict[str, str]) -> httpx.Response:
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        form = client.get("/login")
        hidden = dict(re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form.text))
        # The login form's CSRF cookie comes back as the browser would send it: the test talks plain http to
        # the app behind the "proxy", so a Secure cookie is handed back by hand (httpx keeps it to https).
        sent = "; ".join(c.split(";", 1)[0] for c in form.headers.get_list("set-cookie"))
        return client.post("/login", data={**hidden, "username": account[0], "password": account[1]},
                           headers={"Cookie": sent} if sent else {})


def session_cookies(res: httpx.Response) -> list[str]:
    return [c for c in res.headers.get_list("set-cookie") if c.split("=", 1)[0].strip() == SESSION_COOKIE]


def test_a_login_over_https_gets_a_secure_session_cookie(app_behind_proxy: str, account: tuple[str, str]) -> None:
    res = _login(app_behind_proxy, account, {"X-Forwarded-Proto": "https"})
    assert res.status_code in (302, 303), res.text[:300]
    cookies = session_cookies(res)
    assert cookies and all("secure" in [p.strip().lower() for p in c.split(";")] for c in cookies)


def test_a_login_over_plain_http_on_loopback_is_not_marked_secure(app_behind_proxy: str, account: tuple[str, str]) -> None:
    """The control: the flag follows the scheme the browser used (a Secure cookie over http would be dropped)."""
    res = _login(app_behind_proxy, account, {})
    assert res.status_code in (302, 303)
    cookies = session_cookies(res)
    assert cookies and not any("secure" in [p.strip().lower() for p in c.split(";")] for c in cookies)
