"""Example extension (docs/extending.md): a page with a secret note behind the step-up."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from webapp.context import get_ctx
from webapp.security import audit, policy, sessions
from webapp.security.guard import Modal, step_up
from webapp.security.sessions import Auth
from webapp.templating import add_template_dir, render

BASE = "/settings/notes"
# What showing the note needs: the password (and the code with Credentials 2FA), fresh
# within the step-up window, like the API key.
VIEW_NOTE = policy.register("view note", policy.Rule(policy.Second.CREDENTIALS_2FA))
add_template_dir(Path(__file__).parent / "templates")


async def page(request: Request) -> Response:
    """The page: the note is hidden until the trader steps up."""
    await sessions.require(request)
    return render(request, "example/notes.html", {})


async def _reveal_modal(request: Request, auth: Auth) -> Modal:
    return Modal(
        title="Show the note",
        intro="Enter your AutoTrader login password to show your note.",
        url=f"{BASE}/reveal",
        target="#note",
        action=VIEW_NOTE,
        submit="Show note",
    )


@step_up(_reveal_modal)
async def reveal(request: Request, auth: Auth, form: dict[str, str]) -> Response:
    """Show the note for the reveal period, after the step-up."""
    ctx = get_ctx(request)
    policy.require(
        policy.current(request), auth.user, VIEW_NOTE, ctx.now(), ctx.settings.stepup_seconds
    )
    async with ctx.db() as db:
        await audit.note(db, request, "note_viewed", auth.user.id)
        await db.commit()
    context = {"note": f"Hello {auth.user.username}", "seconds": ctx.settings.reveal_seconds}
    return render(request, "partials/note_revealed.html", context)


async def hidden(request: Request) -> Response:
    """The hidden state the revealed note turns back into."""
    await sessions.require(request)
    return render(request, "partials/note_hidden.html", {})


routes = [
    Route(BASE, page, methods=["GET"]),
    Route(f"{BASE}/reveal", reveal, methods=["POST"]),
    Route(f"{BASE}/hidden", hidden, methods=["GET"]),
]
