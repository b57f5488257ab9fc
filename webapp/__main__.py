"""Command line: ``python -m webapp serve | migrate | disable-2fa | rotate-keys | backup``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from webapp import logs
from webapp.config import ConfigError, Settings
from webapp.schema import SchemaBehind, SchemaNewer

if TYPE_CHECKING:
    from starlette.applications import Starlette


def _settings(args: argparse.Namespace) -> Settings:
    data_dir = Path(args.data_dir) if getattr(args, "data_dir", None) else None
    return Settings.from_env(
        data_dir=data_dir, host=getattr(args, "host", None), port=getattr(args, "port", None)
    )


def _prove_keys(settings: Settings, *, create: bool = False, check_schema: bool = True) -> None:
    """Refuse to go on unless the key ring opens the data (see webapp/keyring_check.py)."""
    from webapp import keyring_check

    source = asyncio.run(
        keyring_check.preflight(settings, create=create, check_schema=check_schema)
    )
    keyring_check.remember(settings, source)


def serve(args: argparse.Namespace) -> int:
    """Run the app under uvicorn."""
    import uvicorn

    from webapp import banner, server_protocol
    from webapp.app import create_app, settle_heap
    from webapp.connections import raise_open_files_limit

    settings = _settings(args)
    logs.configure(settings.log_level, settings.log_format)
    # Refuse early, with a sentence: a schema this app cannot use, or keys that cannot
    # open the data. A new key is made here (once, before any worker) only for an
    # empty database.
    _prove_keys(settings, create=True)
    # Before any worker starts: children inherit the limit, and size their caps from it.
    soft, hard = raise_open_files_limit()
    limits = server_protocol.limits_from(settings)
    server_protocol.configure(limits)
    logging.getLogger("webapp.server").info(
        "open files %d (hard %d); connections: at most %d, %s per address; "
        "request head due within %.0f s",
        soft,
        hard,
        limits.total,
        limits.per_address or "no cap",
        limits.head_timeout,
    )
    banner.show(settings)
    workers = args.workers or 1
    # How many processes share the per-key API rate limit: AUTOTRADER_WORKERS when set
    # (the total across machines behind one load balancer), else this server's workers.
    share = settings.workers if os.environ.get("AUTOTRADER_WORKERS") else workers
    if workers > 1:
        # Each worker process builds its own app from the environment: hand it the flags.
        os.environ["AUTOTRADER_DATA_DIR"] = str(settings.data_dir)
        # Each worker enforces its share of the per-key rate limit (rate_limit.py).
        os.environ["AUTOTRADER_WORKERS"] = str(share)
        app: str | Starlette = "webapp.app:worker_app"
    else:
        app = create_app(dataclasses.replace(settings, workers=share))
        settle_heap()
    # uvicorn's own access log prints query strings; ours (AccessLogMiddleware) does not.
    uvicorn.run(
        app,
        factory=workers > 1,
        workers=workers,
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_level=logs.server_level(settings.log_level),
        log_config=None,  # keep the handlers logs.configure() set up (text or JSON)
        proxy_headers=False,  # forwarded headers are ours to judge (AUTOTRADER_TRUSTED_PROXIES)
        http="webapp.server_protocol:NoDelayHTTPProtocol",
        loop="auto",  # uvloop when installed (a dependency), else asyncio
        server_header=False,
        timeout_keep_alive=5,  # idle keep-alive connections close after 5 s
    )
    return 0


def disable_2fa(args: argparse.Namespace) -> int:
    """Remove 2FA for a user who lost phone and recovery codes; sign them out everywhere."""
    from webapp.ops import disable_two_factor

    message = asyncio.run(disable_two_factor(_settings(args), args.username))
    print(message)
    return 0 if message.startswith("2FA removed") else 1


def rotate_keys(args: argparse.Namespace) -> int:
    """Move every secret to a new master key (see webapp/rotation.py)."""
    from webapp.rotation import RotationError, rotate
    from webapp.rotation_lock import RotationBusy

    settings = _settings(args)
    _prove_keys(settings)  # never re-encrypt with a ring that cannot open the data
    try:
        report = asyncio.run(rotate(settings, remove_unused=args.remove_old))
    except (RotationBusy, RotationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


def migrate(args: argparse.Namespace) -> int:
    """Upgrade the database schema to this version of the app."""
    from webapp import db as database
    from webapp import schema

    settings = _settings(args)
    _prove_keys(settings, check_schema=False)

    async def run() -> tuple[str | None, str]:
        engine = database.make_engine(settings.resolved_database_url)
        try:
            return await schema.upgrade(engine)
        finally:
            await engine.dispose()

    before, after = asyncio.run(run())
    if before == after:
        print(f"The schema is already at revision {after}.")
    else:
        print(f"Upgraded the schema from {before or 'nothing'} to revision {after}.")
    return 0


def backup(args: argparse.Namespace) -> int:
    """Write a consistent copy of the SQLite database."""
    from webapp.backup import backup as run_backup
    from webapp.backup import check_source

    settings = _settings(args)
    check_source(settings)
    _prove_keys(settings, check_schema=False)
    print(run_backup(settings, Path(args.path)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The CLI's argument parser."""
    parser = argparse.ArgumentParser(prog="python -m webapp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="run the web app")
    run.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    run.add_argument("--port", type=int, help="port to listen on (default 8000)")
    run.add_argument("--data-dir", help="folder for the database and key file (default ./var)")
    run.add_argument(
        "--workers", type=int, help="worker processes (default 1; more suit PostgreSQL)"
    )
    run.set_defaults(func=serve)
    off = sub.add_parser("disable-2fa", help="remove 2FA for a user and sign them out everywhere")
    off.add_argument("username")
    off.add_argument("--data-dir", help="folder for the database and key file (default ./var)")
    off.set_defaults(func=disable_2fa)
    rot = sub.add_parser(
        "rotate-keys",
        help="add a master key and re-encrypt every secret with it, beside the running app",
        description="With a key file: adds a new key (unless a rotation is unfinished) and "
        "re-encrypts every secret and look-up digest in small batches that never undo a "
        "write the app makes meanwhile. With AUTOTRADER_MASTER_KEYS: add the new key last "
        "in the variable first; this re-encrypts everything under it.",
    )
    rot.add_argument("--data-dir", help="folder for the database and key file (default ./var)")
    rot.add_argument(
        "--remove-old",
        action="store_true",
        help="add no key: finish moving to the active key, wipe freed old ciphertexts "
        "(SQLite: VACUUM and an emptied WAL), then drop keys no secret uses from the file",
    )
    rot.set_defaults(func=rotate_keys)
    mig = sub.add_parser("migrate", help="upgrade the database schema (back it up first)")
    mig.add_argument("--data-dir", help="folder for the database and key file (default ./var)")
    mig.set_defaults(func=migrate)
    bak = sub.add_parser("backup", help="consistent copy of the SQLite database (online)")
    bak.add_argument("path", help="file to write (must not exist)")
    bak.add_argument("--data-dir", help="folder for the database and key file (default ./var)")
    bak.set_defaults(func=backup)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the chosen command."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except Exception as exc:
        print(f"error: {_sentence(args.command, exc)}", file=sys.stderr)
        if os.environ.get("AUTOTRADER_LOG_LEVEL", "").strip().lower() == "debug":
            traceback.print_exc()
        return 2


def _sentence(command: str, exc: Exception) -> str:
    """One sentence saying what went wrong and what to do (no traceback, no SQL)."""
    from webapp import faults
    from webapp.vault import VaultError

    if isinstance(exc, ConfigError | ValueError | SchemaBehind | SchemaNewer):
        return str(exc)
    if isinstance(exc, VaultError):
        return (
            "a stored secret does not open with the master keys given: put back the key "
            "file (or AUTOTRADER_MASTER_KEYS) that belongs to this database"
        )
    reason = faults.storage_fault(exc)
    if reason:
        return f"{reason}: {faults.advice(reason)}, then run {command} again"
    if isinstance(exc, OSError) and exc.filename:
        fix = "fix the path or its permissions"
        return f"{exc.filename}: {exc.strerror} — {fix}, then run {command} again"
    return (
        f"{command} stopped on an unexpected {type(exc).__name__}: run it again with "
        "AUTOTRADER_LOG_LEVEL=debug to see the details"
    )


if __name__ == "__main__":
    sys.exit(main())
