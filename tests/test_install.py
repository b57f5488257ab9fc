"""What each install gets: the lock files hold exact, hashed versions; a deployment gets
no test tools; a database driver that is not installed is one clear sentence."""

import re
import tomllib

import pytest

from tests.live_server import ROOT
from webapp.config import ConfigError
from webapp.db import make_engine

LOCKS = ROOT / "requirements"


def pinned(lock: str) -> dict[str, str]:
    """Package name -> version in requirements/<lock>.txt."""
    text = (LOCKS / f"{lock}.txt").read_text()
    return dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==([^ ;\\]+)", text, re.M))


@pytest.mark.parametrize("lock", ["app", "postgres", "test"])
def test_every_locked_package_is_exact_and_hashed(lock):
    text = (LOCKS / f"{lock}.txt").read_text()
    entries = re.split(r"\n(?=[a-z0-9])", text)
    requirements = [e for e in entries if re.match(r"[a-z0-9]", e)]
    assert requirements
    for entry in requirements:
        assert "==" in entry.split()[0] and "--hash=sha256:" in entry, entry.split()[0]


def test_a_deployment_gets_no_test_tools_and_postgres_only_on_request():
    app, postgres, test = pinned("app"), pinned("postgres"), pinned("test")
    for tool in ["pytest", "playwright", "ruff", "mypy", "pip-audit", "hypothesis", "asyncpg"]:
        assert tool not in app, tool
    assert "asyncpg" in postgres and "pytest" not in postgres
    # One version of each package everywhere: the larger locks are resolved within app.txt.
    assert all(test[name] == version for name, version in app.items())
    assert all(test[name] == version for name, version in postgres.items())


def test_the_test_lock_holds_every_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    test = pinned("test")
    for extra, requirements in project["optional-dependencies"].items():
        for requirement in requirements:
            name = re.match(r"[A-Za-z0-9._-]+", requirement).group(0).lower()
            assert name in test, (extra, name)


def test_a_missing_database_driver_is_one_sentence():
    # aiomysql is no dependency of ours: the same path as asyncpg on an install without
    # the postgres extra.
    with pytest.raises(ConfigError, match="needs the aiomysql driver, which is not installed"):
        make_engine("mysql+aiomysql://user@127.0.0.1:1/db")
