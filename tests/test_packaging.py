"""`pip install .` (not editable) gives a working app outside the source tree, installed
as docs/deploy.md says: the locked dependencies (requirements/app.txt), then the wheel."""

import subprocess
import sys
import time
import venv

import httpx
import pytest

from tests.live_server import ROOT, free_port

pytestmark = pytest.mark.sqlite_only  # one packaging check per CI run is enough


def test_wheel_installs_and_serves_outside_the_checkout(tmp_path):
    dist = tmp_path / "dist"
    # The checkout's own (locked) setuptools builds it: no fresh build environment.
    build = ["wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)]
    subprocess.run(
        [sys.executable, "-m", "pip", *build],
        check=True,
        capture_output=True,
        timeout=600,
    )
    wheel = next(dist.glob("autotrader_security-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    lock = ROOT / "requirements" / "app.txt"
    for args in (["--require-hashes", "-r", str(lock)], ["--no-deps", str(wheel)]):
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *args],
            check=True,
            capture_output=True,
            timeout=900,
        )
    port = free_port()
    elsewhere = tmp_path / "run"
    elsewhere.mkdir()
    server = subprocess.Popen(
        [str(python), "-m", "webapp", "serve", "--port", str(port), "--data-dir", "data"],
        cwd=elsewhere,  # not the checkout: templates and static files come from the wheel
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).text == "ok":
                    break
            except httpx.HTTPError:
                pass
            server.poll()
            assert server.returncode is None, "the installed app exited"
            time.sleep(0.1)
        login = httpx.get(f"{base}/login")
        assert login.status_code == 200 and "Sign in" in login.text
        for asset in ["/static/app.css", "/static/app.js", "/static/vendor/htmx.min.js"]:
            assert httpx.get(f"{base}{asset}").status_code == 200, asset
        assert (elsewhere / "data" / "master.key").exists()
        installed = subprocess.run(
            [str(python), "-c", "import webapp.templating as t; print(t.TEMPLATE_DIR)"],
            capture_output=True,
            text=True,
            check=True,
            cwd=elsewhere,
        ).stdout
        assert "site-packages" in installed
    finally:
        server.terminate()
        server.wait(timeout=20)
