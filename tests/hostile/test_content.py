"""Hostile content: every file of the corpus loads within its time limit, with its own
diagnostic, in process and through `amabot check` run as a memory-capped subprocess; and
the loader survives hypothesis-generated frontmatter and Markdown without an internal error.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import SeriesSettings, Settings
from bot.content import frontmatter as frontmatter_module
from bot.content import loader, recaps
from bot.content.index import ContentIndex
from bot.content.loader import parse_bytes, parse_text
from bot.content.models import Episode, Problem, Recap
from tests.hostile.corpus import CASES, Case, write_case, write_corpus

REPO = Path(__file__).resolve().parents[2]
PER_FILE_SECONDS = 1.5
SERIES = SeriesSettings()


def _problems_for(problems: tuple[Problem, ...] | list[Problem], rel: str) -> list[Problem]:
    return [p for p in problems if p.path == rel]


def _matches(p: Problem, case: Case) -> bool:
    return (
        p.code == case.code
        and p.severity == case.severity
        and (case.line is None or p.line == case.line)
        and case.says in p.message
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_each_hostile_file_gets_its_own_diagnostic_in_time(tmp_path: Path, case: Case):
    root = tmp_path / "content"
    write_case(root, case)
    index = ContentIndex(root, Settings())
    started = time.perf_counter()
    report = index.reload()
    took = time.perf_counter() - started
    assert took < PER_FILE_SECONDS, f"{case.rel} took {took:.2f}s"
    mine = _problems_for(report.problems, case.rel)
    assert not [p for p in report.problems if p.code == "internal"], report.problems
    if case.code is None:
        assert mine == [], mine
        assert len(index.episodes()) + len(index.recaps(include_drafts=True)) == 1
    else:
        assert any(_matches(p, case) for p in mine), (
            f"{case.rel}: wanted {case.code} line {case.line} {case.says!r}, got "
            + "; ".join(f"{p.line}:{p.code}:{p.message[:80]}" for p in mine)
        )
    # A second reload of unchanged hostile files is free and says the same.
    again = index.reload()
    assert not again.any_change and _problems_for(again.problems, case.rel) == mine


def test_the_whole_corpus_loads_in_one_pass(tmp_path: Path):
    root = write_corpus(tmp_path / "content")
    started = time.perf_counter()
    report = ContentIndex(root, Settings()).reload()
    took = time.perf_counter() - started
    assert took < 5, took
    assert {c.rel for c in CASES if c.code} <= {p.path for p in report.problems}
    assert not [p for p in report.problems if p.code == "internal"]
    assert len(report.problems) < 50 * len(CASES)


def _check_subprocess(
    *args: str, cwd: Path, limit_bytes: int = 256 << 20, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    def cap_memory() -> None:  # runs in the child, before exec
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "AMABOT_CONFIG")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "bot", "check", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=cap_memory,
    )


def test_amabot_check_survives_the_corpus_under_a_memory_cap(tmp_path: Path):
    """256 MiB of address space in all (the interpreter and libraries take most of it):
    a bomb that expanded, or a 1 MiB file held several times over, would not fit."""
    root = write_corpus(tmp_path / "content")
    started = time.monotonic()
    done = _check_subprocess("--format", "json", str(root), cwd=tmp_path)
    took = time.monotonic() - started
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    doc = json.loads(done.stdout)
    seen: dict[str, list[dict]] = {}
    for p in doc["problems"]:
        seen.setdefault(Path(p["path"]).relative_to(root).as_posix(), []).append(p)
    for case in CASES:
        got = seen.get(case.rel, [])
        if case.code is None:
            # Only the corpus's many "S2:E5"s may collide with one another.
            assert {p["code"] for p in got} <= {"duplicate-id", "duplicate-episode"}, got
            continue
        assert any(
            p["code"] == case.code
            and (case.line is None or p["line"] == case.line)
            and case.says in p["message"]
            for p in got
        ), (case.rel, got)
    assert not [p for p in doc["problems"] if p["code"] == "internal"]
    assert took < 20, took


def test_amabot_check_text_output_cannot_be_forged_by_control_characters(tmp_path: Path):
    root = write_corpus(tmp_path / "content")
    done = _check_subprocess(str(root), cwd=tmp_path)
    assert done.returncode == 1, done.stderr[-2000:]
    out = done.stdout
    assert "\x1b" not in out and "\r" not in out and "\u202e" not in out
    # One line per problem: a newline inside a message or a file name cannot add a line
    # that looks like another file's error.
    assert not [line for line in out.splitlines() if line.startswith("fake.md")]
    assert "\\x1b[2J" in out  # shown escaped, so the author still sees what is wrong
    lines = out.splitlines()
    assert lines[-1].startswith(f"{len(CASES) - 1} files checked:") or "files checked" in lines[-1]


def test_amabot_check_on_a_single_hostile_file_and_on_a_fifo(tmp_path: Path):
    bomb = tmp_path / "bomb.md"
    bomb.write_bytes(next(c.make for c in CASES if c.rel == "episodes/deep-flow.md"))  # type: ignore[arg-type]
    done = _check_subprocess("--format", "json", str(bomb), cwd=tmp_path, timeout=10)
    assert done.returncode == 1, done
    (problem,) = json.loads(done.stdout)["problems"]
    assert (Path(problem["path"]).name, problem["line"], problem["code"]) == (
        "bomb.md",
        2,
        "yaml-depth",
    )
    assert _understandable(problem["message"])
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    done = _check_subprocess(str(fifo), cwd=tmp_path, timeout=10)
    assert done.returncode != 0 and "not a regular file" in done.stdout + done.stderr, done


def _understandable(message: str) -> bool:
    return len(message.split()) >= 5 and message[0].isalpha()


def _upstream_words(raw: bytes) -> list[str]:
    """What PyYAML itself says about this frontmatter (if it refuses it), to check that our
    message does not repeat it: its wording changes between releases, ours must not."""
    text = raw.decode("utf-8", "replace")
    # Cut: the unguarded C loader dies of a stack overflow on the deepest of these files
    # (PyYAML 6.0.3 and older): the very crash the loader's depth limit exists for.
    fm = text.split("\n---", 1)[0].removeprefix("---\n")[:5_000]
    try:
        yaml.load(fm, Loader=yaml.CSafeLoader)
    except yaml.MarkedYAMLError as exc:
        return [w for w in (exc.problem, exc.context) if w]
    except RecursionError:
        return []
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        return [str(exc)] if str(exc) else []
    return []


_YAML_CASES = [c for c in CASES if (c.code or "").startswith("yaml-") or c.code == "bad-date"]


@pytest.mark.parametrize("case", _YAML_CASES, ids=lambda c: c.id)
def test_yaml_refusals_have_our_code_line_and_words(case: Case):
    """One diagnostic, with our stable code, a line of the file, and a message of ours: the
    same whichever PyYAML release refused the file (or whether our own limit did)."""
    assert isinstance(case.make, bytes)
    parsed = parse_bytes(case.make, case.rel, "auto", SERIES)
    assert parsed.item is None
    (problem,) = parsed.problems
    assert (problem.code, problem.severity) == (case.code, "error")
    assert problem.line is not None and (case.line is None or problem.line == case.line)
    assert _understandable(problem.message), problem.message
    for words in _upstream_words(case.make):
        assert words not in problem.message, (words, problem.message)


def test_too_deep_is_one_diagnostic_below_and_above_libyamls_own_limit():
    """libyaml (in newer PyYAML wheels) refuses flow collections 1,000 deep by itself; ours
    refuses past 64. Either way the author reads the same line."""
    said = set()
    for depth in (65, 100, 999, 1_000, 1_001, 5_000):
        raw = b"---\nseason: 2\ntitle: " + b"[" * depth + b"]" * depth + b"\n---\n"
        (problem,) = parse_bytes(raw, "episodes/deep.md", "episode", SERIES).problems
        said.add((problem.line, problem.code, problem.message))
    assert len(said) == 1 and next(iter(said))[:2] == (3, "yaml-depth"), said
    ok = b"---\nseason: 2\ntitle: T\ntags: " + b"[" * 63 + b"x" + b"]" * 63 + b"\n---\n"
    problems = parse_bytes(ok, "episodes/ok.md", "episode", SERIES).problems
    assert not [p for p in problems if p.code.startswith("yaml-")], problems


# -- hypothesis ---------------------------------------------------------------------------

_NASTY = st.sampled_from(
    [
        "&a [*a]",
        "*a",
        "&x {<<: *x}",
        "!!python/name:os.system",
        "!!binary aGk=",
        "[" * 80,
        "{a: " * 70,
        "- " * 70,
        "0000-01-01T00:00",
        "9999-12-31T23:59+14:00",
        "0001-01-01 00:00:00 +12:00",
        "2025-07-14T13:30+24:00",
        "-30m",
        "99999999999999999999h",
        "Etc/GMT+99",
        "../../etc/passwd",
        "\u200b@everyone",
        "\x00",
        "\ufeff",
        "\u202e",
        "~",
        "'unclosed",
        '"\\e[31m"',
        "? x",
        ": :",
        "|",
        ">-",
        "%YAML 1.1",
        "--- ",
        "...",
    ]
)
_FIELD = st.sampled_from(
    [
        "id",
        "season",
        "episode",
        "title",
        "summary",
        "guests",
        "tags",
        "status",
        "timezone",
        "livestream",
        "ama",
        "links",
        "date",
        "draft",
        "authors",
        "url",
        "start",
        "duration",
        "created",
    ]
)
_VALUE = st.one_of(_NASTY, st.text(max_size=40), st.integers(), st.floats().map(repr))


def _no_internal_error(parsed: loader.Parsed) -> None:
    assert (
        parsed.item is None or isinstance(parsed.item, Episode | Recap) or parsed.kind == "authors"
    )
    internal = [p for p in parsed.problems if p.code == "internal"]
    assert not internal, internal
    assert len(parsed.problems) <= loader.MAX_PROBLEMS_PER_FILE + 1, len(parsed.problems)


def _timed(fn, *args, **kwargs):
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    took = time.perf_counter() - started
    assert took < PER_FILE_SECONDS, f"{took:.2f}s"
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(_FIELD, st.integers(0, 4), _VALUE, st.booleans()), max_size=14),
    st.sampled_from(["episode", "recap", "auto"]),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.booleans(),
)
def test_fuzzed_frontmatter_never_fails_inside_the_loader(fields, kind, newline, bom):
    rows = []
    for key, indent, value, nested in fields:
        rows.append(f"{' ' * indent}{key}:" + (f"\n  start: {value}" if nested else f" {value}"))
    text = "---\n" + "\n".join(rows) + "\n---\n# Title\n\n> summary\n"
    raw = ("\ufeff" if bom else "") + text.replace("\n", newline)
    parsed = _timed(
        parse_bytes, raw.encode("utf-8", "surrogatepass"), "episodes/x.md", kind, SERIES
    )
    _no_internal_error(parsed)


_MD_PIECES = st.sampled_from(
    [
        "# ",
        "## ",
        "> ",
        "*",
        "_",
        "**Key takeaway:**",
        "![",
        "](",
        ")",
        "[",
        "]",
        " ",
        "\t",
        "\n",
        "\n\n",
        "S2:E5",
        "S02E05",
        "key take away",
        "<br>",
        "#",
        "@everyone",
        "<@123456789012345678>",
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_MD_PIECES, st.text(max_size=8)), max_size=60), st.integers(1, 400))
def test_fuzzed_recap_markdown_is_linear_and_never_fails(pieces, repeat):
    body = "".join(pieces) * repeat
    raw = ("---\ndate:\n  created: 2025-07-14\n---\n" + body).encode("utf-8", "surrogatepass")
    _no_internal_error(_timed(parse_bytes, raw, "recaps/x.md", "recap", SERIES))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(">*_ \ta\n#"), max_size=120))
def test_linear_summary_finder_agrees_with_the_old_regex(intro):
    m = recaps._BLOCK_OR_ITALIC.search(intro)
    assert recaps._quote_or_italic(intro) == (m.group(0) if m else None)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("#ab \t"), max_size=40))
def test_heading_text_agrees_with_the_old_lazy_regex(line):
    import re

    old = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE).match(line)
    new = recaps._HEADING.match(line)
    if old is None or not old.group(2).strip():
        # A blank `# ` heading is no title: the new pattern skips it (the old one stopped
        # there and reported "no title" even when a real `# Title` followed).
        assert new is None or recaps._heading_text(new).strip(" \t#") == ""
    else:
        assert new is not None and recaps._heading_text(new) == old.group(2)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("# \ta\n"), max_size=40), st.integers(0, 45))
def test_next_heading_finder_agrees_with_the_regex(body, start):
    start = min(start, len(body))
    m = recaps._ANY_HEADING.search(body, start)
    assert recaps._next_heading(body, start) == (m.start() if m else len(body))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("-. \taK\n"), max_size=60))
def test_closing_line_finder_agrees_with_the_regex(rest):
    import re

    text = "---\n" + rest
    m = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.MULTILINE).search(text, 4)
    assert frontmatter_module._closing(text, 4) == ((m.start(), m.end()) if m else (-1, -1))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(["#", " ", "\n", "key ", "take", "TAKE", "away", "**", ":", "\u0130"]),
        max_size=40,
    ).map("".join)
)
def test_takeaway_line_search_agrees_with_a_plain_search(body):
    for pattern, prefix in (
        (recaps._KEY_TAKEAWAY_HEADING, "#"),
        (recaps._KEY_TAKEAWAY_LABEL, "**"),
    ):
        want, got = pattern.search(body), recaps._search_lines(pattern, body, prefix)
        assert (want and want.span()) == (got and got.span())


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=0, max_size=2000), st.sampled_from(["episodes/x.md", "authors.yml"]))
def test_fuzzed_bytes_never_fail_inside_the_loader(raw, rel):
    kind = "authors" if rel == "authors.yml" else "episode"
    _no_internal_error(_timed(parse_bytes, raw, rel, kind, SERIES))
    _no_internal_error(_timed(parse_bytes, b"---\n" + raw + b"\n---\n", rel, kind, SERIES))


def test_parse_text_is_total_on_the_corpus_texts():
    for case in CASES:
        if isinstance(case.make, bytes):
            text = case.make.decode("utf-8", "replace")
            _no_internal_error(_timed(parse_text, text, case.rel, "auto", SERIES, pages=True))
