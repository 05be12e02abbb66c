"""The crash tests' hook into the gap between a send and its record (issue 14, item 10).

The crash tests must aim SIGKILLs at the one moment that matters: Discord has taken the
message, the outbox does not know yet. That moment is right after the `Sender`'s `send`
returns (bot/services/delivery.py records the message id next), so the hook wraps the real
Sender's `send` (bot/discord/sender.py's `DiscordSender`); the product knows nothing of it.
While installed, every send that Discord answered checks a folder before returning:

- ``kill`` exists: append "<nonce> <message id>" to ``landed`` (synced to disk), remove
  ``kill``, and SIGKILL this process;
- ``pause`` exists: sleep the seconds written in it (the harness kills the bot meanwhile).

In process (testkit/harness.py's bot): ``with installed(folder): ...``. As a process
(testkit/processes.py): ``python -m testkit.gap <folder> run --config amabot.toml``, the
same as ``python -m bot run ...`` with the hook installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.discord.sender import DiscordSender

log = logging.getLogger("amabot.testkit.gap")


async def in_the_gap(folder: Path, nonce: str, message_id: int) -> None:
    """What a send Discord answered does before the outbox may record it."""
    kill = folder / "kill"
    if kill.exists():
        with (folder / "landed").open("a", encoding="utf-8") as out:
            out.write(f"{nonce} {message_id}\n")
            out.flush()
            os.fsync(out.fileno())
        kill.unlink(missing_ok=True)
        os.kill(os.getpid(), signal.SIGKILL)
    pause = folder / "pause"
    if pause.exists():
        try:
            seconds = float(pause.read_text(encoding="utf-8").strip() or "0")
        except ValueError:
            seconds = 0.0
        await asyncio.sleep(seconds)


@contextlib.contextmanager
def installed(folder: Path) -> Iterator[None]:
    """Every `DiscordSender.send` goes through the gap while this lasts."""
    real_send = DiscordSender.send

    async def send(
        self: DiscordSender, channel_id: int, payload: dict[str, Any], *, nonce: str
    ) -> int:
        message_id = await real_send(self, channel_id, payload, nonce=nonce)
        await in_the_gap(folder, nonce, message_id)
        return message_id

    DiscordSender.send = send  # type: ignore[method-assign]
    log.warning("the send gap hook is on (%s): test runs only", folder)
    try:
        yield
    finally:
        DiscordSender.send = real_send  # type: ignore[method-assign]


def landed(folder: Path) -> list[str]:
    """The nonces of the sends killed in the gap, in order."""
    path = folder / "landed"
    if not path.exists():
        return []
    return [line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line]


def main(argv: list[str]) -> int:
    """``<folder> <amabot arguments...>``: the bot's own command line, hook installed."""
    from bot.cli.main import main as amabot

    folder, *rest = argv
    with installed(Path(folder)):
        return amabot(rest)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
