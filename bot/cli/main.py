"""`amabot` / `python -m bot`: run | check | plan | doctor | invite | demo.

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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amabot",
        description="Discord bot for a weekly show: recaps, reminders, /episode and /recap.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--config",
            metavar="FILE",
            help="config file (default: $AMABOT_CONFIG, else ./config.toml, else defaults)",
        )
        return p

    run = with_config(sub.add_parser("run", help="connect to Discord and run the bot"))
    run.set_defaults(handler=_cmd_run)

    check = with_config(
        sub.add_parser("check", help="check content files and print compiler-style diagnostics")
    )
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument(
        "path", nargs="?", help="content root, folder or file (default: [content] path)"
    )
    check.set_defaults(handler=_cmd_check)

    plan = with_config(
        sub.add_parser("plan", help="print the outbox as the bot would act on it now")
    )
    plan.add_argument("--days", type=int, default=14, help="how far ahead to list pending posts")
    plan.add_argument("--format", choices=("text", "json"), default="text")
    plan.set_defaults(handler=_cmd_plan)

    doctor = with_config(
        sub.add_parser("doctor", help="check the bot's permissions and set-up (REST only)")
    )
    doctor.set_defaults(handler=_cmd_doctor)

    invite = with_config(
        sub.add_parser("invite", help="print the invite URL with the permissions the bot needs")
    )
    invite.add_argument("--application-id", type=int, help="default: asked with the token")
    invite.add_argument(
        "--markdown", action="store_true", help="print the README's permission section"
    )
    invite.set_defaults(handler=_cmd_invite)

    demo = sub.add_parser("demo", help="run the bot offline against a local Discord stand-in")
    demo.add_argument("--interactive", action="store_true", help="type slash commands yourself")
    demo.add_argument(
        "--content", metavar="DIR", help="content folder (default: the sample content)"
    )
    demo.set_defaults(handler=_cmd_demo)
    return parser


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
