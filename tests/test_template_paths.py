"""Templates name routes (path_for) instead of typing the app's paths."""

import re
from pathlib import Path

from starlette.routing import Mount, Route

from webapp.templating import TEMPLATE_DIR

# An attribute that links, submits or fetches, and a value that starts with "/".
HARD_CODED = re.compile(r'\b(?:href|action|src|formaction|hx-[a-z]+|data-[a-z-]+)="/')
NAMED = re.compile(r'path_for\("([^"]+)"')


def _templates() -> list[Path]:
    return sorted(TEMPLATE_DIR.rglob("*.html"))


def test_no_template_types_an_app_path():
    found = [
        f"{path.relative_to(TEMPLATE_DIR)}:{number}: {line.strip()[:80]}"
        for path in _templates()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if HARD_CODED.search(line) or re.search(r'=\s*"/(?!/)', line.split("path_for")[0])
    ]
    assert found == []


def test_every_route_a_template_names_exists(app):
    names = {r.name for r in app.routes if isinstance(r, Route | Mount)}
    used = {name for path in _templates() for name in NAMED.findall(path.read_text())}
    assert used, "the templates name no route"
    assert used <= names, used - names


async def test_links_are_paths_not_absolute_urls(client, trader):
    page = await trader.page("/settings/security")
    assert 'hx-post="/settings/security/api-key/view"' in page.text
    assert 'href="/static/app.css?v=' in page.text
    assert "http://" not in page.text and "https://" not in page.text
