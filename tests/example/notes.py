"""Example extension (docs/extending.md): a page that stores a secret note, encrypted,
and shows or changes it only behind the step-up."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from tests.example import storage
from webapp import activity, routing
from webapp.context import get_ctx
from webapp.security import audit, policy, sessions
from webapp.security.guard import Modal, step_up
from webapp.security.sessions import Auth
from webapp.templating import add_template_dir, render

BASE = "/settings/notes"
# What showing the note needs: the password (and the code with Credentials 2FA), fresh
# within the step-up window, like the API key.
VIEW_NOTE = policy.register("view note", policy.Rule(policy.Second.CREDENTIALS_2FA))
SAVE_NOTE = policy.register("save note", policy.Rule(policy.Second.CREDENTIALS_2FA))
add_template_dir(Path(__file__).parent / "templates")
# Activity labels: how the events read in "Recent security activity" (the product adds
# them to webapp/activity.py's LABELS).
activity.LABELS.setdefault("note_viewed", "Secret note viewed")
activity.LABELS.setdefault("note_saved", "Secret note saved")


async def page(request: Request) -> Response:
    """The page: the note is hidden until the trader steps up."""
    await sessions.require(request)
    return render(request, "example/notes.html", {"error": "", "saved": False, "draft": ""})


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
    async with ctx.engine.connect() as conn:
        stored = await storage.load(conn, ctx.keys, auth.user.id)
    async with ctx.db() as db:
        await audit.note(db, request, "note_viewed", auth.user.id)
        await db.commit()
    note = stored if stored is not None else f"Hello {auth.user.username}"
    context = {"note": note, "seconds": ctx.settings.reveal_seconds}
    return render(request, "partials/note_revealed.html", context)


async def _save_modal(request: Request, auth: Auth) -> Modal:
    return Modal(
        title="Save the note",
        intro="Enter your AutoTrader login password to save your note.",
        url=BASE,
        target="#note-form",
        action=SAVE_NOTE,
        submit="Save note",
        include="#note-form",  # the note travels with the dialog's password field
    )


@step_up(_save_modal, "note")
async def save(request: Request, auth: Auth, form: dict[str, str]) -> Response:
    """Encrypt and store the note, after the step-up; too long is a 422 with a message."""
    note = form["note"].strip()
    if not note or len(note) > storage.MAX_NOTE:
        error = f"Write a note of 1 to {storage.MAX_NOTE} characters."
        context = {"error": error, "saved": False, "draft": form["note"][: storage.MAX_NOTE * 2]}
        return render(request, "partials/note_form.html", context, status_code=422)
    ctx = get_ctx(request)
    policy.require(
        policy.current(request), auth.user, SAVE_NOTE, ctx.now(), ctx.settings.stepup_seconds
    )
    async with ctx.engine.begin() as conn:
        await storage.save(conn, ctx.keys, auth.user.id, note, ctx.now())
    async with ctx.db() as db:
        await audit.note(db, request, "note_saved", auth.user.id)
        await db.commit()
    context = {"error": "", "saved": True, "draft": ""}
    return render(request, "partials/note_form.html", context)


async def hidden(request: Request) -> Response:
    """The hidden state the revealed note turns back into."""
    await sessions.require(request)
    return render(request, "partials/note_hidden.html", {})


routes = [
    *routing.page(BASE, "notes.page", get=page, post=save),
    *routing.page(f"{BASE}/reveal", "notes.reveal", post=reveal),
    *routing.page(f"{BASE}/hidden", "notes.hidden", get=hidden),
]
