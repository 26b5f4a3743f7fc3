"""Issue 16 item 5: each service gets only its own secrets.

`gridpulse keys split` writes the bridge's key file (the QR public keys) and the resident services' (no
session secret) from the platform's. The attack: someone who takes over a running bridge process reads
its memory. Performed on a real `gridpulse bridge` started with only its own file (the platform's key file
does not exist on its machine): it verifies resident codes and decides, and its memory holds neither the
QR signing key, the session secret, the ID-hash key nor the app issuer's key — while the QR public key,
the control, is found there. A bridge pointed at the platform's file refuses to start."""
from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import redis
from cryptography.hazmat.primitives import serialization

from core.config import load_secrets, settings
from credentials.qr_codes import resident_code
from tests.browser import free_port
from tests.gate_fixtures import GateWorld, build_gate_world, remove_gate_world
from tests.security.roles import role_url

ROOT = Path(__file__).resolve().parents[2]
GRIDPULSE = str(Path(sys.executable).parent / "gridpulse")


def _raw(key) -> bytes:  # noqa: ANN001
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    home = tmp_path_factory.mktemp("keys")
    env = {**os.environ, "GRIDPULSE_KEY_FILE": str(home / "platform.json"),
           "GRIDPULSE_BRIDGE_KEY_FILE": str(home / "bridge" / "bridge.json"),
           "GRIDPULSE_RESIDENTS_KEY_FILE": str(home / "residents" / "residents.json")}
    out = subprocess.run([GRIDPULSE, "keys", "split"], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return {"platform": home / "platform.json", "bridge": home / "bridge" / "bridge.json",
            "residents": home / "residents" / "residents.json"}


def test_split_writes_each_service_only_its_own_fields_mode_600(keys: dict[str, Path]) -> None:
    bridge, residents = (json.loads(keys[k].read_text()) for k in ("bridge", "residents"))
    assert set(bridge) == {"qr_public_keys"}
    assert set(residents) == {"id_hash_key", "qr_signing_key", "qr_key_id", "demo_issuer_key"}  # no session secret
    for name in ("bridge", "residents"):
        assert stat.S_IMODE(keys[name].stat().st_mode) == 0o600
    platform = load_secrets(keys["platform"])
    public = platform.qr_signing_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert bridge["qr_public_keys"] == {platform.qr_key_id: public.hex()}


@pytest.fixture(scope="module")
def world(database_url: str):  # noqa: ANN201
    w = build_gate_world(fake_faces_seed=5)
    yield w
    remove_gate_world(w)


def start_bridge(world: GateWorld, key_file: Path, platform_file: Path, prefix: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "GRIDPULSE_BRIDGE_KEY_FILE": str(key_file), "GRIDPULSE_KEY_FILE": str(platform_file),
           "GRIDPULSE_DATABASE_URL": role_url("gridpulse_bridge"), "GRIDPULSE_REDIS_PREFIX": prefix,
           "GRIDPULSE_BRIDGE_OUTBOX_DIR": str(key_file.parent)}
    env.pop("GRIDPULSE_RESIDENTS_KEY_FILE", None)
    proc = subprocess.Popen([GRIDPULSE, "bridge", "--compound", str(world.compound_a), "--port", str(port), "--no-face-models"],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, f"http://127.0.0.1:{port}"


def wait_healthy(proc: subprocess.Popen, base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else "the bridge exited"
        try:
            if httpx.get(base + "/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the bridge did not come up within 60 s")


def memory_contains(pid: int, needles: dict[str, bytes]) -> set[str]:
    """Which needles occur anywhere in the process's readable memory (as one who took it over would read it)."""
    found: set[str] = set()
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
            if not m or "r" not in m[3] or "[vvar]" in line or "[vsyscall]" in line:
                continue
            start, end = int(m[1], 16), int(m[2], 16)
            try:
                mem.seek(start)
                chunk = mem.read(end - start)
            except (OSError, OverflowError, ValueError):
                continue
            found |= {name for name, needle in needles.items() if name not in found and needle in chunk}
    return found


def test_a_bridge_with_only_its_own_file_works_and_holds_no_other_secret(world: GateWorld, keys: dict[str, Path],
                                                                         tmp_path: Path) -> None:
    platform = load_secrets(keys["platform"])
    absent = tmp_path / "not-on-this-machine" / "secrets.json"
    prefix = f"gpgatetrust:s{uuid.uuid4().hex[:6]}:"
    proc, base = start_bridge(world, keys["bridge"], absent, prefix)
    try:
        wait_healthy(proc, base)
        code = resident_code(platform.qr_signing_key, platform.qr_key_id, world.people["owner"], world.compound_a)
        res = httpx.post(f"{base}/v1/gates/{world.gate_a}/qr", json={"payload": code}, headers={"X-Gate-Key": world.gate_key})
        assert res.status_code == 200 and res.json()["result"] == "open", res.text
        again = httpx.post(f"{base}/v1/gates/{world.gate_a}/qr", json={"payload": code}, headers={"X-Gate-Key": world.gate_key})
        assert again.json()["reason"] == "qr_replayed"
        card = httpx.post(f"{base}/v1/gates/{world.gate_a}/card", json={"person_id": world.people["tenant"]},
                          headers={"X-Gate-Key": world.gate_key})
        assert card.json()["result"] == "open"
        public = platform.qr_signing_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        secrets = {
            "qr signing key": _raw(platform.qr_signing_key), "qr signing key (hex)": _raw(platform.qr_signing_key).hex().encode(),
            "session secret": platform.session_secret.encode(), "session secret (raw)": bytes.fromhex(platform.session_secret),
            "id hash key": platform.id_hash_key, "id hash key (hex)": platform.id_hash_key.hex().encode(),
            "app issuer key": _raw(platform.demo_issuer_key), "app issuer key (hex)": _raw(platform.demo_issuer_key).hex().encode(),
        }
        found = memory_contains(proc.pid, {**secrets, "control: qr public key": public})
        assert "control: qr public key" in found  # the scan does find what the bridge holds
        assert found - {"control: qr public key"} == set()
        assert not absent.exists() and not absent.parent.exists()  # it never made itself a platform key file
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        r = redis.Redis.from_url(settings().redis_url)
        stale = list(r.scan_iter(match=prefix + "*"))
        if stale:
            r.delete(*stale)


def test_a_bridge_pointed_at_the_platform_s_key_file_refuses_to_start(world: GateWorld, keys: dict[str, Path]) -> None:
    proc, _ = start_bridge(world, keys["platform"], keys["platform"], "gpgatetrust:never:")
    try:
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert "must not hold" in output and "GRIDPULSE_BRIDGE_KEY_FILE" in output
    assert "Traceback" not in output  # one clear line, not a stack


def test_a_bridge_key_file_others_can_read_is_refused(world: GateWorld, keys: dict[str, Path], tmp_path: Path) -> None:
    loose = tmp_path / "bridge.json"
    loose.write_text(keys["bridge"].read_text())
    loose.chmod(0o644)
    proc, _ = start_bridge(world, loose, tmp_path / "absent.json", "gpgatetrust:never:")
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "chmod 600" in output


def test_the_resident_services_with_their_own_file_work_and_hold_no_session_secret(world: GateWorld, keys: dict[str, Path],
                                                                                    tmp_path: Path) -> None:
    """The resident services hash ID numbers and sign codes (they hold the ID-hash key: the control) but never
    the dashboard's session secret."""
    import uuid as _uuid

    from sqlalchemy import select

    from residents.app_tokens import mint

    from blockdata.db import transaction
    from blockdata.models import Person

    platform = load_secrets(keys["platform"])
    with transaction() as s:
        pid = s.scalar(select(Person.pid).where(Person.id == world.people["owner"]))
    token = mint(_uuid.UUID(str(pid)), key=platform.demo_issuer_key)  # the split's own demo issuer
    port = free_port()
    env = {**os.environ, "GRIDPULSE_RESIDENTS_KEY_FILE": str(keys["residents"]),
           "GRIDPULSE_KEY_FILE": str(tmp_path / "absent" / "secrets.json"),
           "GRIDPULSE_DATABASE_URL": role_url("gridpulse_residents")}
    env.pop("GRIDPULSE_BRIDGE_KEY_FILE", None)
    proc = subprocess.Popen([GRIDPULSE, "residents-api", "--port", str(port)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else "exited"
            try:
                httpx.get(base + "/openapi.json", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the resident services did not come up"
                time.sleep(0.2)
        res = httpx.get(base + "/v1/me/resident-code", headers={"Authorization": f"Bearer {token}"})
        assert res.status_code == 200 and res.json()[0]["payload"].startswith("GP1."), res.text
        found = memory_contains(proc.pid, {
            "session secret": platform.session_secret.encode(), "session secret (raw)": bytes.fromhex(platform.session_secret),
            "control: id hash key": platform.id_hash_key,
        })
        assert found == {"control: id hash key"}
        assert not (tmp_path / "absent").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
