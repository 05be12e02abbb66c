"""`amabot` / `python -m bot`: run | check | plan | doctor | invite | migrate | ama | demo.

Exit codes: 0 success, 1 content errors (check) or a failed run, 2 usage or config error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily below: `amabot --help` stays quick
    from bot.config import Settings

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amabot",
        description="Discord bot for a weekly show: recaps, reminders, /episode and /recap.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_content_commands(sub)
    _add_setup_commands(sub)
    _add_ama_and_demo(sub)
    return parser


def _with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument(
        "--config",
        metavar="FILE",
        help="config file (default: $AMABOT_CONFIG, else ./config.toml, else defaults)",
    )
    return p


def _add_content_commands(sub: Subparsers) -> None:
    """run, check, plan: the bot and its content."""
    run = _with_config(sub.add_parser("run", help="connect to Discord and run the bot"))
    run.set_defaults(handler=_cmd_run)

    check = _with_config(
        sub.add_parser("check", help="check content files and print compiler-style diagnostics")
    )
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument(
        "path", nargs="?", help="content root, folder or file (default: [content] path)"
    )
    check.set_defaults(handler=_cmd_check)

    plan = _with_config(
        sub.add_parser("plan", help="print the outbox as the bot would act on it now")
    )
    plan.add_argument("--days", type=int, default=14, help="how far ahead to list pending posts")
    plan.add_argument("--format", choices=("text", "json"), default="text")
    plan.set_defaults(handler=_cmd_plan)


def _add_setup_commands(sub: Subparsers) -> None:
    """doctor, invite: setting the bot up in a server."""
    doctor = _with_config(
        sub.add_parser("doctor", help="check the bot's permissions and set-up (REST only)")
    )
    doctor.set_defaults(handler=_cmd_doctor)

    invite = _with_config(
        sub.add_parser("invite", help="print the invite URL with the permissions the bot needs")
    )
    invite.add_argument("--application-id", type=int, help="default: asked with the token")
    invite.add_argument(
        "--markdown", action="store_true", help="print the README's permission section"
    )
    invite.set_defaults(handler=_cmd_invite)
    migrate = _with_config(
        sub.add_parser("migrate", help="copy the SQLite database into an empty PostgreSQL one")
    )
    migrate.add_argument("--to", required=True, metavar="URL", help="postgresql://user@host/db")
    migrate.add_argument("--from", dest="source", metavar="FILE", help="default: storage.database")
    migrate.set_defaults(handler=_cmd_migrate)


def _add_ama_and_demo(sub: Subparsers) -> None:
    """ama export, demo."""
    ama = sub.add_parser("ama", help="the AMA's records")
    ama_sub = ama.add_subparsers(dest="ama_command", metavar="COMMAND")
    export = _with_config(
        ama_sub.add_parser("export", help="print an AMA's record, as the bot writes it back")
    )
    export.add_argument("episode", help="the episode id, e.g. s2-e05")
    export.add_argument("--series", help="the series id (default: [series] id)")
    export.set_defaults(handler=_cmd_ama_export)

    demo = sub.add_parser("demo", help="run the bot offline against a local Discord stand-in")
    demo.add_argument("--interactive", action="store_true", help="type slash commands yourself")
    demo.add_argument(
        "--content", metavar="DIR", help="content folder (default: the sample content)"
    )
    demo.set_defaults(handler=_cmd_demo)


def _settings(args: argparse.Namespace) -> Settings:
    from bot.config import find_config, load_settings

    return load_settings(find_config(args.config, os.environ), environ=os.environ)


def _cmd_check(args: argparse.Namespace) -> int:
    from bot.cli.check import run_check

    settings = _settings(args)
    return run_check(Path(args.path) if args.path else None, settings=settings, fmt=args.format)


def _cmd_run(args: argparse.Namespace) -> int:
    from bot.discord.serve import run_bot

    return run_bot(_settings(args))


def _cmd_plan(args: argparse.Namespace) -> int:
    from bot.cli.plan import run_plan

    return run_plan(_settings(args), days=args.days, fmt=args.format)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from bot.cli.doctor import run_doctor

    return run_doctor(_settings(args))


def _cmd_invite(args: argparse.Namespace) -> int:
    from bot.cli.doctor import run_invite

    return run_invite(_settings(args), application_id=args.application_id, markdown=args.markdown)


def _cmd_migrate(args: argparse.Namespace) -> int:
    from bot.cli.migrate import run_migrate

    return run_migrate(_settings(args), args.to, source=args.source)


def _cmd_ama_export(args: argparse.Namespace) -> int:
    from bot.cli.ama import run_export

    return run_export(_settings(args), args.episode, series=args.series)


def _cmd_demo(args: argparse.Namespace) -> int:
    from testkit.demo import run_demo

    return run_demo(
        interactive=args.interactive, content=Path(args.content) if args.content else None
    )


def main(argv: Sequence[str] | None = None) -> int:
    from bot.config import ConfigError

    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        code: int = args.handler(args)
        return code
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
