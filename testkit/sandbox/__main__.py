"""`python3 -m testkit.sandbox [--port N] [--state FILE] [--token T] [knobs]`: a standalone sandbox.

The knobs (`--nonce-window 3`, `--publish-per-hour 2`, ...) are Sandbox's keyword arguments;
their defaults are Discord's (see testkit/sandbox/README.md).

Prints one line, `sandbox listening on http://127.0.0.1:PORT`, then serves until SIGINT or
SIGTERM. `--state FILE` is a JSON guild layout to build at start (see build_from_layout);
the ids it got are written to FILE.ids.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path

from . import Sandbox, build_from_layout

# Sandbox keyword -> type; each is a --flag-with-dashes.
KNOBS: dict[str, type] = {
    "nonce_window": float,
    "interaction_deadline": float,
    "followup_window": float,
    "publish_per_hour": int,
    "old_edit_limit": int,
    "dm_open_per_minute": int,
    "empty_event_timeout": float,
    "unstarted_event_cancel_after": float,
}


def build_layout(sandbox: Sandbox, state: str) -> None:
    layout = json.loads(Path(state).read_text(encoding="utf-8"))
    ids = build_from_layout(sandbox, layout)
    Path(state + ".ids.json").write_text(json.dumps(ids, indent=2), encoding="utf-8")


async def _serve(args: argparse.Namespace) -> int:
    knobs = {k: getattr(args, k) for k in KNOBS if getattr(args, k) is not None}
    sandbox = Sandbox(args.token, port=args.port, **knobs)
    sandbox.on_violation = lambda v: print(f"VIOLATION {v}", file=sys.stderr, flush=True)  # noqa: T201
    if args.state:
        build_layout(sandbox, args.state)
    await sandbox.start()
    print(f"sandbox listening on {sandbox.base_url}", flush=True)  # noqa: T201
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sandbox.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m testkit.sandbox")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--state", help="JSON guild layout to build at start")
    parser.add_argument("--token", help="the bot token to accept (default: random)")
    for name, kind in KNOBS.items():
        parser.add_argument("--" + name.replace("_", "-"), type=kind, dest=name)
    args = parser.parse_args(argv)
    return asyncio.run(_serve(args))


if __name__ == "__main__":
    sys.exit(main())
