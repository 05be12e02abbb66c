"""`amabot check`: load the content exactly as the bot does and print what is wrong.

Compiler-style lines (`path:line: error: message [code]`, the code a stable name for the
kind of problem, e.g. `yaml-syntax`) sorted by file and line, then a summary;
exit 0 when there are no errors (warnings allowed), 1 when there are, 2 when PATH is
unusable. With GITHUB_ACTIONS=true it also prints workflow annotations so problems show up
on the pull request's diff.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from bot.config import Settings
from bot.content.identity import identity_problems
from bot.content.index import ContentIndex, problem_sort_key
from bot.content.models import Problem


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
) -> int:
    target = Path(path) if path is not None else settings.content.path
    if not target.exists() and not target.is_symlink():
        print(f"amabot check: {target}: no such file or folder", file=sys.stderr)
        return 2
    if target.exists() and not target.is_file() and not target.is_dir():
        print(
            f"amabot check: {printable(str(target))}: not a regular file "
            "(a pipe, socket or device)",
            file=sys.stderr,
        )
        return 2
    if target.is_file():
        index = ContentIndex(target.parent, settings, only=target)
        shown_root = target.parent
    else:
        index = ContentIndex(target, settings)
        shown_root = target
    report = index.reload()
    # Recaps that share an identity (episode + day) could be mistaken for each other on a
    # rename: the bot keys announcements by it when a recap has no `id:`.
    shared = identity_problems(index.recaps(include_drafts=True))
    problems = sorted([*report.problems, *shared], key=problem_sort_key)

    def shown(p: Problem) -> str:
        if p.path in (".", ""):
            return str(shown_root)
        return (shown_root / p.path).as_posix() if str(shown_root) not in ("", ".") else p.path

    errors = sum(1 for p in problems if p.severity == "error")
    warnings = len(problems) - errors
    files = len(index.files)
    if fmt == "json":
        doc = {
            "root": str(shown_root),
            "files_checked": files,
            "episodes": len(index.episodes()),
            "recaps": len(index.recaps(include_drafts=True)),
            "errors": errors,
            "warnings": warnings,
            "problems": [
                {
                    "path": shown(p),
                    "line": p.line,
                    "severity": p.severity,
                    "message": p.message,
                    "code": p.code,
                }
                for p in problems
            ],
        }
        out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        for p in problems:
            where = printable(shown(p))
            where = f"{where}:{p.line}" if p.line else where
            code = f" [{p.code}]" if p.code else ""
            out.write(f"{where}: {p.severity}: {printable(p.message)}{code}\n")
        noun = "file" if files == 1 else "files"
        out.write(
            f"{files} {noun} checked: {errors} error{'s' if errors != 1 else ''}, "
            f"{warnings} warning{'s' if warnings != 1 else ''}\n"
        )
    if environ.get("GITHUB_ACTIONS") == "true":
        for p in problems:
            out.write(annotation(p, shown(p)) + "\n")
    out.flush()
    return 1 if errors else 0
