"""Command line: ``python -m webapp serve | disable-2fa USERNAME``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from webapp.config import ConfigError, Settings


def _settings(args: argparse.Namespace) -> Settings:
    data_dir = Path(args.data_dir) if getattr(args, "data_dir", None) else None
    return Settings.from_env(
        data_dir=data_dir, host=getattr(args, "host", None), port=getattr(args, "port", None)
    )


def serve(args: argparse.Namespace) -> int:
    """Run the app under uvicorn."""
    import uvicorn

    from webapp.app import create_app

    settings = _settings(args)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    app = create_app(settings)
    # uvicorn's own access log prints query strings; ours (AccessLogMiddleware) does not.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_level=settings.log_level,
        server_header=False,
    )
    return 0


def disable_2fa(args: argparse.Namespace) -> int:
    """Remove 2FA for a user who lost phone and recovery codes; sign them out everywhere."""
    from webapp.ops import disable_two_factor

    message = asyncio.run(disable_two_factor(_settings(args), args.username))
    print(message)
    return 0 if message.startswith("2FA removed") else 1


def build_parser() -> argparse.ArgumentParser:
    """The CLI's argument parser."""
    parser = argparse.ArgumentParser(prog="python -m webapp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="run the web app")
    run.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    run.add_argument("--port", type=int, help="port to listen on (default 8000)")
    run.add_argument("--data-dir", help="folder for the database and key file (default ./var)")
    run.set_defaults(func=serve)
    off = sub.add_parser("disable-2fa", help="remove 2FA for a user and sign them out everywhere")
    off.add_argument("username")
    off.add_argument("--data-dir", help="folder for the database and key file (default ./var)")
    off.set_defaults(func=disable_2fa)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the chosen command."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
