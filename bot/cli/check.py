"""`amabot check`: load the content exactly as the bot does and print what is wrong.

Compiler-style lines (`path:line: error: message [code]`, the code a stable name for the
kind of problem, e.g. `yaml-syntax`) sorted by file and line,
then a `note: held:` line for each recap that will go out later (a date-only date goes out
when its day begins somewhere on Earth, a date and time at that moment), then a summary;
exit 0 when there are no errors (warnings allowed), 1 when there are, 2 when PATH is
unusable. With GITHUB_ACTIONS=true it also prints workflow annotations so problems show up
on the pull request's diff.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.content.identity import identity_problems
from bot.content.index import ContentIndex, problem_sort_key
from bot.content.models import Problem, Recap


def printable(text: str) -> str:
    """Control and format characters shown as escapes: a file name or a YAML key can hold
    ESC sequences, a carriage return or a right-to-left override, and printed raw they would
    repaint the terminal or forge a `path:line: error:` line of their own."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii")
        for c in text
    )


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(problem: Problem, shown_path: str) -> str:
    """One GitHub Actions workflow command for a problem."""
    props = [f"file={_escape_property(printable(shown_path))}"]
    if problem.line:
        props.append(f"line={problem.line}")
    if problem.code:
        props.append(f"title={_escape_property(problem.code)}")
    return f"::{problem.severity} {','.join(props)}::{_escape_data(printable(problem.message))}"


def run_check(
    path: Path | None,
    *,
    settings: Settings,
    fmt: str = "text",
    out: TextIO = sys.stdout,
    environ: Mapping[str, str] = os.environ,
    clock: Clock = system_clock,
) -> int:
    """Check the content at `path` (a file or folder; default the configured content) and
    print the problems, and the recaps held until a later moment; exit 0, 1 or 2."""
    target = Path(path) if path is not None else settings.content.path
    unusable = _unusable(target)
    if unusable:
        print(f"amabot check: {unusable}", file=sys.stderr)
        return 2
    shown_root = target.parent if target.is_file() else target
    index = ContentIndex(shown_root, settings, only=target if target.is_file() else None)
    report = index.reload()
    # Recaps that share an identity (episode + day) could be mistaken for each other on a
    # rename: the bot keys announcements by it when a recap has no `id:`.
    shared = identity_problems(index.recaps(include_drafts=True))
    records = index.ama_problems() if index.is_content_root else []
    problems = sorted([*report.problems, *shared, *records], key=problem_sort_key)
    now = clock()
    held = [r for r in index.recaps() if not r.is_published(now)]

    def shown(path: str) -> str:
        if path in (".", ""):
            return str(shown_root)
        return (shown_root / path).as_posix() if str(shown_root) not in ("", ".") else path

    errors = sum(1 for p in problems if p.severity == "error")
    counts = {"files": len(index.files), "errors": errors, "warnings": len(problems) - errors}
    zone = _series_zone(settings)
    if fmt == "json":
        doc = {
            "root": str(shown_root),
            "files_checked": counts["files"],
            "episodes": len(index.episodes()),
            "recaps": len(index.recaps(include_drafts=True)),
            "errors": errors,
            "warnings": counts["warnings"],
            "problems": [_problem_json(p, shown(p.path)) for p in problems],
            "held": [{"path": shown(r.path), "goes_out": r.release_at.isoformat()} for r in held],
        }
        out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        _write_text(out, problems, held, shown, zone, counts)
    if environ.get("GITHUB_ACTIONS") == "true":
        for p in problems:
            out.write(annotation(p, shown(p.path)) + "\n")
        for r in held:
            where = f"file={_escape_property(printable(shown(r.path)))},line={r.line}"
            out.write(f"::notice {where}::{_escape_data(held_note(r, zone))}\n")
    out.flush()
    return 1 if errors else 0


def _unusable(target: Path) -> str | None:
    """Why `target` cannot be checked, or None."""
    if not target.exists() and not target.is_symlink():
        return f"{target}: no such file or folder"
    if target.exists() and not target.is_file() and not target.is_dir():
        return f"{printable(str(target))}: not a regular file (a pipe, socket or device)"
    return None


def _series_zone(settings: Settings) -> ZoneInfo:
    try:
        return ZoneInfo(settings.series.timezone)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def held_note(recap: Recap, zone: ZoneInfo) -> str:
    """When a held recap will go out, and why it waits."""
    when = recap.release_at
    at = f"{when:%Y-%m-%d %H:%M} UTC ({when.astimezone(zone):%Y-%m-%d %H:%M} {zone.key})"
    if recap.release is not None:
        why = (
            f"its date {recap.published.astimezone(zone):%Y-%m-%d} has not begun anywhere "
            "on Earth yet (a date-only date goes out when its day begins in UTC+14)"
        )
    else:
        why = "its date and time are still ahead"
    return f"held: the recap goes out at {at}: {why}"


def _problem_json(p: Problem, path: str) -> dict[str, object]:
    return {
        "path": path,
        "line": p.line,
        "severity": p.severity,
        "message": p.message,
        "code": p.code,
    }


def _write_text(
    out: TextIO,
    problems: list[Problem],
    held: list[Recap],
    shown: Callable[[str], str],
    zone: ZoneInfo,
    counts: Mapping[str, int],
) -> None:
    for p in problems:
        where = printable(shown(p.path))
        where = f"{where}:{p.line}" if p.line else where
        code = f" [{p.code}]" if p.code else ""
        out.write(f"{where}: {p.severity}: {printable(p.message)}{code}\n")
    for r in held:
        out.write(f"{printable(shown(r.path))}:{r.line}: note: {held_note(r, zone)}\n")
    files, errors, warnings = counts["files"], counts["errors"], counts["warnings"]
    noun = "file" if files == 1 else "files"
    out.write(
        f"{files} {noun} checked: {errors} error{'s' if errors != 1 else ''}, "
        f"{warnings} warning{'s' if warnings != 1 else ''}\n"
    )
