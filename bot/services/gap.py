"""A test-harness hook into the gap between a send and its record (issue 14, item 10).

The crash tests must aim SIGKILLs at the one moment that matters: Discord has taken the
message, the outbox does not know yet. With ``AMABOT_TEST_SEND_GAP=<folder>`` in the bot's
environment (set only by testkit/processes.py), every send that Discord answered checks the
folder before it is recorded:

- ``kill`` exists: append "<key> <message id>" to ``landed`` (synced to disk), remove
  ``kill``, and SIGKILL this process;
- ``pause`` exists: sleep the seconds written in it (the harness kills the bot meanwhile).

Without the variable the hook is None and costs nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Mapping
from pathlib import Path

from bot.plan.posts import Post
from bot.services.delivery import AfterSend

log = logging.getLogger("amabot.gap")

ENV = "AMABOT_TEST_SEND_GAP"


def gap_hook(environ: Mapping[str, str]) -> AfterSend | None:
    folder = environ.get(ENV)
    if not folder:
        return None
    base = Path(folder)
    log.warning("%s is set: sends may be killed between send and record (test runs only)", ENV)

    async def after_send(post: Post, message_id: int) -> None:
        kill = base / "kill"
        if kill.exists():
            with (base / "landed").open("a", encoding="utf-8") as out:
                out.write(f"{post.key} {message_id}\n")
                out.flush()
                os.fsync(out.fileno())
            kill.unlink(missing_ok=True)
            os.kill(os.getpid(), signal.SIGKILL)
        pause = base / "pause"
        if pause.exists():
            try:
                seconds = float(pause.read_text(encoding="utf-8").strip() or "0")
            except ValueError:
                seconds = 0.0
            await asyncio.sleep(seconds)

    return after_send
