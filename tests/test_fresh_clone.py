"""The README's commands as a newcomer types them, in a fresh clone of the repository.

``git clone`` (so only committed files count), then ``./scripts/serve --help`` and
``./scripts/serve --host 127.0.0.1 --port P --data-dir D``: the flags must reach the
app (``scripts/_venv.sh`` once took them for pip extras), the start must print one
short banner without library chatter, and the data folder must hold the database and a
private key file. pip's cache makes the clone's install quick after the first run.
"""

import os
import shutil
import signal
import stat
import subprocess
import time

import httpx
import pytest

from tests.live_server import ROOT, free_port

pytestmark = pytest.mark.sqlite_only  # the default database; one run per CI is enough

NOT_FROM_OUR_VENV = ("VIRTUAL_ENV", "PYTHONPATH", "AUTOTRADER_DATABASE_URL", "AUTOTRADER_DATA_DIR")


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A fresh clone of the committed repository, as a newcomer gets it."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    folder = tmp_path_factory.mktemp("newcomer") / "autotrader"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(folder)], check=True, timeout=120)
    return folder


def newcomer_env():
    """The caller's environment without this checkout's virtual environment or database."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_FROM_OUR_VENV}
    env.pop("AUTOTRADER_MASTER_KEYS", None)
    return env


def test_serve_help_as_typed(clone):
    done = subprocess.run(
        ["./scripts/serve", "--help"],
        cwd=clone,
        env=newcomer_env(),
        capture_output=True,
        text=True,
        timeout=900,  # the first run installs the app into the clone's .venv
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for flag in ("--host", "--port", "--data-dir", "--workers"):
        assert flag in done.stdout
    # pip and setuptools stay quiet when all goes well
    assert "Package would be ignored" not in done.stdout + done.stderr


def test_serve_as_typed_prints_a_banner_and_makes_the_data_folder(clone, tmp_path):
    port = free_port()
    data = tmp_path / "my data"  # a space, as in many home folders
    command = ["./scripts/serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir"]
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [*command, str(data)],
            cwd=clone,
            env=newcomer_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                assert server.poll() is None, f"serve exited:\n{log.read_text()}"
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).text == "ok":
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            else:
                pytest.fail(f"no answer on /healthz:\n{log.read_text()}")
            assert httpx.get(f"{base}/register").status_code == 200
        finally:
            os.killpg(server.pid, signal.SIGINT)  # what Ctrl+C does
            server.wait(timeout=30)
    output = log.read_text()
    assert f"Open      http://127.0.0.1:{port}/register" in output, output
    assert f"Data      {data}" in output
    assert "Ctrl+C" in output
    for chatter in ("INFO alembic", "INFO uvicorn", "Package would be ignored"):
        assert chatter not in output, output
    assert len(output.splitlines()) <= 8, output
    assert (data / "autotrader.db").is_file()
    key_mode = stat.S_IMODE((data / "master.key").stat().st_mode)
    assert key_mode == 0o600, oct(key_mode)
    assert not (clone / "var").exists(), "--data-dir was ignored"
