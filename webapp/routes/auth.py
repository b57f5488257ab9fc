"""Register, sign in (with the Login 2FA step), sign out."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from webapp import forms, totp
from webapp.context import get_ctx
from webapp.models import User, id_of
from webapp.repositories import api_keys, two_factor, users
from webapp.sections.status import note_recovery_sign_in
from webapp.security import audit, codes, holds, passkey_gate, password_gate, sessions, throttle
from webapp.security.passkey_gate import PENDING_KEY, login_binding
from webapp.security.sessions import client_ip, user_agent
from webapp.services import passkeys as passkey_service
from webapp.templating import render

HOME = "/settings/security"
# How long a sign-in waits for its second factor after the password was right.
SIGN_IN_2FA_SECONDS = 300
LOCKED_NOTICE = (
    "Your account is locked: API keys are suspended and every session has ended. "
    "Sign in, then unlock it on the Security page."
)
WRONG_LOGIN = "Wrong username or password. Check both and try again."
EXPIRED_SIGN_IN = "Your sign-in took too long. Enter your username and password again."


ENDED_NOTICES = {
    "revoked": "You were signed out: from another device, or after a password or 2FA change "
    "there. Sign in again.",
    "expired": "You were signed out after a while without activity. Sign in again.",
}


def _home() -> RedirectResponse:
    return RedirectResponse(HOME, status_code=303)


async def index(request: Request) -> Response:
    """Send visitors to their Security page, or to sign in."""
    if await sessions.current(request):
        return _home()
    return RedirectResponse("/login", status_code=303)


async def register_form(request: Request) -> Response:
    """Show the registration form."""
    if await sessions.current(request):
        return _home()
    return render(request, "auth/register.html", {"username": "", "errors": {}})


async def register(request: Request) -> Response:
    """Create an account and its API key, then sign the new user in."""
    form = await forms.read(request, "username", "password")
    username = forms.normalize_username(form["username"])
    errors = {
        "username": forms.username_problem(username),
        "password": forms.password_problem(form["password"], username),
    }
    if any(errors.values()):
        return _register_error(request, username, errors)
    ctx = get_ctx(request)
    wait = await _count_registration(request)
    if wait:
        errors["username"] = throttle.wait_message(wait)
        return _register_error(request, username, errors, 429)
    password_hash = await ctx.passwords.hash(form["password"])
    async with ctx.db() as db:
        try:
            user = await users.create(db, username, password_hash, ctx.now())
        except users.UsernameTaken:
            errors["username"] = "That username is taken. Choose another one."
            return _register_error(request, username, errors)
        await api_keys.issue(db, ctx.keys, id_of(user), ctx.now())
        await audit.note(db, request, "registered", user.id)
        await db.commit()
    await sessions.sign_in(request, user)
    return _home()


async def _count_registration(request: Request) -> int:
    """Count a sign-up from this address before hashing; seconds to wait when over."""
    ctx = get_ctx(request)
    policy = throttle.registrations(ctx.settings.registrations_per_hour)
    async with ctx.db() as db:
        key = throttle.register_key(client_ip(request))
        slot = await throttle.reserve(db, key, policy, ctx.now())
        if isinstance(slot, int):
            await db.rollback()
            return slot
        await db.commit()
    return 0


def _register_error(
    request: Request, username: str, errors: dict[str, str], status: int = 422
) -> Response:
    context = {"username": username[:64], "errors": errors}
    return render(request, "auth/register.html", context, status_code=status)


async def login_form(request: Request) -> Response:
    """Show the sign-in form."""
    if await sessions.current(request):
        return _home()
    notice = ENDED_NOTICES.get(request.session.pop(sessions.ENDED, ""), "")
    if request.query_params.get("expired") == "1":
        notice = EXPIRED_SIGN_IN
    elif request.query_params.get("locked") == "1":
        notice = LOCKED_NOTICE
    return render(request, "auth/login.html", {"username": "", "error": "", "notice": notice})


async def login(request: Request) -> Response:
    """Check the password; then either sign in or ask for the Login 2FA code."""
    form = await forms.read(request, "username", "password")
    username = forms.normalize_username(form["username"])[:200]
    if not username or not form["password"]:
        return _login_error(request, username, "Enter your username and password.", 422)
    ctx = get_ctx(request)
    async with ctx.db() as db:
        user = await users.by_username(db, username)
    outcome = await password_gate.check(
        ctx,
        username,
        user,
        form["password"],
        wrong_message=WRONG_LOGIN,
        event="signin_failed",
        ip=client_ip(request),
        agent=user_agent(request),
    )
    if outcome.ok and user and ctx.passwords.needs_rehash(user.password_hash):
        new_hash = await ctx.passwords.hash(form["password"])
        async with ctx.db() as db:
            await users.set_password_hash(db, user, new_hash)
            await db.commit()
    if not outcome.ok or user is None:
        return _login_error(request, username, outcome.message, outcome.status)
    if user.login_2fa and user.enrolled:
        await sessions.sign_out(request)  # a session this browser still had ends here
        # A random id for this pending sign-in binds its passkey challenge to this browser.
        pending = {"pending_uid": user.id, "pending_at": ctx.now()}
        request.session.update({**pending, PENDING_KEY: secrets.token_urlsafe(32)})
        return RedirectResponse("/login/code", status_code=303)
    return await _complete_sign_in(request, user, "password")


def _login_error(request: Request, username: str, message: str, status: int) -> Response:
    context = {"username": username[:64], "error": message, "notice": ""}
    return render(request, "auth/login.html", context, status_code=status)


async def _pending_user(request: Request) -> User | None:
    ctx = get_ctx(request)
    uid, at = request.session.get("pending_uid"), request.session.get("pending_at")
    if not isinstance(uid, int) or not isinstance(at, int | float):
        return None
    if not 0 <= ctx.now() - at <= SIGN_IN_2FA_SECONDS:
        return None
    async with ctx.db() as db:
        return await users.by_id(db, uid)


async def _pending_form(request: Request, field: str) -> tuple[dict[str, str], User | None]:
    """The second-step form's ``field`` and the trader whose password was right."""
    return await forms.read(request, field), await _pending_user(request)


def _code_page(
    request: Request, user: User, error: str = "", code: str = "", status: int = 200
) -> Response:
    context = {
        "error": error,
        "code": code,
        "totp": user.has_totp,
        "passkeys": user.passkey_count > 0,
    }
    return render(request, "auth/code.html", context, status_code=status)


async def code_form(request: Request) -> Response:
    """Ask for the 6-digit code, a recovery code, or a passkey after a correct password."""
    user = await _pending_user(request)
    if user is None:
        return _expired(request)
    return _code_page(request, user)


async def code_submit(request: Request) -> Response:
    """Finish a Login 2FA sign-in with a current code or an unused recovery code."""
    form, user = await _pending_form(request, "code")
    if user is None:
        return _expired(request)
    ctx = get_ctx(request)
    outcome = await codes.check(ctx, user, form["code"], client_ip(request), user_agent(request))
    if not outcome.ok:
        return _code_page(request, user, outcome.message, form["code"][:64], outcome.status)
    parsed = totp.parse_code(form["code"])
    if parsed is not None and parsed[0] == "recovery":
        # A recovery-code sign-in starts a cool-down (webapp/security/holds.py).
        how = holds.RECOVERY_SIGNIN.removeprefix("with ")
        response = await _complete_sign_in(request, user, how)
        async with ctx.db() as db:  # say how many are left
            note_recovery_sign_in(request, await two_factor.recovery_codes_left(db, id_of(user)))
        return response
    return await _complete_sign_in(request, user, "password and code")


async def passkey_options(request: Request) -> Response:
    """JSON options for ``navigator.credentials.get`` at the Login 2FA step."""
    await forms.read(request)
    user = await _pending_user(request)
    binding = login_binding(request)
    if user is None or binding is None:
        return JSONResponse({"message": EXPIRED_SIGN_IN}, status_code=401)
    if user.passkey_count == 0:
        return JSONResponse({"message": "This account has no passkeys."}, status_code=409)
    return JSONResponse(await passkey_service.assertion_options(get_ctx(request), user, binding))


async def passkey_submit(request: Request) -> Response:
    """Finish a Login 2FA sign-in with a passkey instead of the code."""
    form, user = await _pending_form(request, "passkey")
    if user is None:
        return _expired(request)
    ctx = get_ctx(request)
    binding = login_binding(request)
    ip, agent = client_ip(request), user_agent(request)
    outcome = await passkey_gate.check(ctx, user, form["passkey"], binding, ip, agent)
    if not outcome.ok:
        return _code_page(request, user, outcome.message, status=outcome.status)
    return await _complete_sign_in(request, user, "password and passkey")


def _expired(request: Request) -> Response:
    request.session.pop("pending_uid", None)
    request.session.pop("pending_at", None)
    request.session.pop(PENDING_KEY, None)
    return RedirectResponse("/login?expired=1", status_code=303)


async def _complete_sign_in(request: Request, user: User, how: str) -> Response:
    await sessions.sign_in(request, user)
    ctx = get_ctx(request)
    async with ctx.db() as db:
        await audit.note(db, request, "signin", user.id, detail=f"with {how}")
        await db.commit()
    return _home()


async def logout(request: Request) -> Response:
    """End this session on the server and go back to the sign-in page."""
    auth = await sessions.current(request)
    await sessions.sign_out(request)
    if auth:
        ctx = get_ctx(request)
        async with ctx.db() as db:
            await audit.note(db, request, "signout", auth.user.id)
            await db.commit()
    return RedirectResponse("/login", status_code=303)


routes = [
    Route("/", index, methods=["GET"], name="home"),
    Route("/register", register_form, methods=["GET"], name="register"),
    Route("/register", register, methods=["POST"], name="register"),
    Route("/login", login_form, methods=["GET"], name="login"),
    Route("/login", login, methods=["POST"], name="login"),
    Route("/login/code", code_form, methods=["GET"], name="login.code"),
    Route("/login/code", code_submit, methods=["POST"], name="login.code"),
    Route(
        "/login/passkey/options", passkey_options, methods=["POST"], name="login.passkey_options"
    ),
    Route("/login/passkey", passkey_submit, methods=["POST"], name="login.passkey"),
    Route("/logout", logout, methods=["POST"], name="logout"),
]
