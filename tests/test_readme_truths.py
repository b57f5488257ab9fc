"""What the README and the API description promise is what the code does."""

import dataclasses
import re

from tests.live_server import ROOT
from webapp import openapi
from webapp.config import SETTINGS, Settings
from webapp.passwords import HASHER

README = (ROOT / "README.md").read_text()
DOCS = [ROOT / "README.md", ROOT / "pyproject.toml", *sorted((ROOT / "docs").glob("*.md"))]


def test_readme_states_the_argon2_parameters_the_code_uses():
    p = HASHER  # argon2-cffi's PasswordHasher keeps its parameters here
    memory = f"{p.memory_cost // 1024} MiB"
    assert f"argon2id (t={p.time_cost}, {memory}, p={p.parallelism}" in README


def test_the_api_documents_its_rate_limit_and_permissions():
    # Every operation behind a key can answer 429 (per-key rate limit, tested in
    # tests/test_bot_keys.py) and 403 (a missing permission or a disallowed address).
    for path, item in openapi.spec()["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            assert "Retry-After" in responses["429"]["headers"], (path, method)
            assert "403" in responses, (path, method)
    errors = README.split("Errors are", 1)[1].split("###", 1)[0]
    assert "429" in errors and "Retry-After" in errors and "403" in errors


def test_docs_point_only_at_files_in_the_repository():
    names = {p.name for p in ROOT.rglob("*.md") if ".venv" not in p.parts}
    missing = []
    for doc in DOCS:
        text = doc.read_text()
        linked = re.findall(r"\]\(([^)#\s]+)", text)  # markdown links and images
        named = re.findall(r"\b([\w./-]+\.md)\b", text)  # any mention of a markdown file
        for target in linked + named:
            if "://" in target:
                continue
            here = (doc.parent / target).exists() or (ROOT / target).exists()
            if not here and not ("/" not in target and target in names):
                missing.append(f"{doc.name}: {target}")
    assert not missing, missing


def test_readme_settings_table_is_the_one_in_the_code():
    table = README.split("## Settings", 1)[1].split("\n\n", 3)[2]
    rows = [line for line in table.splitlines() if line.startswith("| `AUTOTRADER_")]
    assert rows == [setting.readme_row() for setting in SETTINGS]


def test_every_setting_fills_a_settings_field_and_from_env_reads_them_all():
    fields = {f.name for f in dataclasses.fields(Settings)}
    assert {s.attr for s in SETTINGS} == fields - {"host", "port"}  # host, port: CLI flags
    assert Settings.from_env({}) == Settings()
    for setting in SETTINGS:
        assert getattr(Settings(), setting.attr) == setting.default
