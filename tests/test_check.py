"""`amabot check` end to end, as a subprocess: exit codes, exact lines, JSON, annotations."""

# ruff: noqa: E501  (expected diagnostics are compared verbatim)

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.check import run_check
from bot.config import Settings

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "content" / "fixtures"

# Our own wording (the YAML library's changes between releases; ours does not).
UNCLOSED = (
    "YAML syntax error: the `[` opened here is not closed (or a `,` is missing between its items)"
)
BROKEN_IMAGE = (
    "broken image Markdown '![Banner(./img/x.png)': the `](` between the alt text and the path "
    "is missing, so the image is shown as text; write ![Banner](./img/x.png)"
)
BAD_LINES = [
    "episodes/dup.md:6: error: unknown time zone 'Mars/Olympus_Mons': use an IANA name such as America/Los_Angeles [bad-timezone]",
    "episodes/dup.md:8: warning: livestream time is TBD [tbd-time]",
    "episodes/s2-e05.md:1: error: duplicate episode id 's2-e05' (also in episodes/dup.md) [duplicate-id]",
    "episodes/s2-e05.md:7: warning: unknown field `statsu` in an episode; did you mean `status`? [unknown-field]",
    "episodes/s2-e05.md:11: error: bad duration '30 minutes please': write it like 30m, 1h or 1h30m [bad-duration]",
    "episodes/s2-e05.md:13: error: the AMA (2025-07-11 17:30 UTC) is before the livestream (2025-07-14 17:30 UTC) [ama-before-livestream]",
    f"episodes/s2-e06.md:4: error: {UNCLOSED} [yaml-syntax]",
    "recaps/empty.md: error: file is empty [empty]",
    "recaps/latin1.md:4: error: not valid UTF-8 (byte 0xe9); save the file as UTF-8 [encoding]",
    "recaps/orphan.md:6: error: `episode: s9-e99` is not a known episode [unknown-episode]",
    f"recaps/orphan.md:13: warning: {BROKEN_IMAGE} [broken-image]",
]


def amabot(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "AMABOT_CONFIG")}
    environ["PYTHONPATH"] = str(REPO)
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", "check", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def work(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "good", tmp_path / "good")
    shutil.copytree(FIXTURES / "bad", tmp_path / "bad")
    # Kept out of the repo as a file: editors and linters choke on non-UTF-8 sources.
    (tmp_path / "bad" / "recaps" / "latin1.md").write_bytes(
        b"---\ndate: 2025-07-14\n---\n# Caf\xe9 \xff\n"
    )
    return tmp_path


def test_good_folder_exits_zero(work: Path):
    result = amabot("good", cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "4 files checked: 0 errors, 0 warnings\n"


def test_sample_content_passes(tmp_path: Path):
    result = amabot(str(REPO / "content"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ": error:" not in result.stdout


def test_bad_folder_prints_sorted_diagnostics_and_exits_one(work: Path):
    result = amabot("bad", cwd=work)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:-1] == [f"bad/{line}" for line in BAD_LINES]
    assert lines[-1] == "7 files checked: 8 errors, 3 warnings"


def test_json_output(work: Path):
    result = amabot("--format", "json", "bad", cwd=work)
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert (doc["files_checked"], doc["errors"], doc["warnings"]) == (7, 8, 3)
    first = doc["problems"][0]
    assert first == {
        "path": "bad/episodes/dup.md",
        "line": 6,
        "severity": "error",
        "message": "unknown time zone 'Mars/Olympus_Mons': use an IANA name such as America/Los_Angeles",
        "code": "bad-timezone",
    }
    assert {p["code"] for p in doc["problems"]} >= {
        "yaml-syntax",
        "unknown-field",
        "duplicate-id",
        "empty",
        "encoding",
    }


def test_github_actions_annotations(work: Path):
    result = amabot("bad", cwd=work, env={"GITHUB_ACTIONS": "true"})
    notes = [line for line in result.stdout.splitlines() if line.startswith("::")]
    assert len(notes) == 11
    assert f"::error file=bad/episodes/s2-e06.md,line=4,title=yaml-syntax::{UNCLOSED}" in notes
    assert (
        "::warning file=bad/episodes/dup.md,line=8,title=tbd-time::livestream time is TBD" in notes
    )
    assert "::error file=bad/recaps/empty.md,title=empty::file is empty" in notes


def test_single_file(work: Path):
    result = amabot("bad/recaps/orphan.md", cwd=work)
    assert result.returncode == 0  # a broken image is a warning: the recap still loads
    assert result.stdout.splitlines() == [
        f"bad/recaps/orphan.md:13: warning: {BROKEN_IMAGE} [broken-image]",
        "1 file checked: 0 errors, 1 warning",
    ]
    result = amabot("bad/episodes/s2-e06.md", cwd=work)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"bad/episodes/s2-e06.md:4: error: {UNCLOSED} [yaml-syntax]",
        "1 file checked: 1 error, 0 warnings",
    ]


def test_missing_path_is_a_usage_error(work: Path):
    result = amabot("nowhere", cwd=work)
    assert result.returncode == 2
    assert "nowhere" in result.stderr


def test_oversized_and_symlinked_files(work: Path, tmp_path: Path):
    (work / "good" / "recaps" / "huge.md").write_bytes(b"---\n" + b"x" * (1 << 20) + b"\n---\n")
    outside = tmp_path / "outside.md"
    outside.write_text("---\ndate: 2025-01-01\n---\n# Out\n")
    os.symlink(outside, work / "good" / "recaps" / "link.md")
    result = amabot("good", cwd=work)
    assert result.returncode == 1
    assert (
        "good/recaps/huge.md: error: file is larger than 1 MiB (1048585 bytes); skipped [too-large]"
        in result.stdout
    )
    assert (
        "good/recaps/link.md: error: symbolic link leads outside the content folder; refused [symlink-outside]"
        in result.stdout
    )


def test_corpus_any_folder(tmp_path: Path):
    corpus = REPO / ".." / "shared" / "corpus" / "model-mondays"
    if not corpus.is_dir():
        pytest.skip("the shared corpus is not beside the repo")
    out = io.StringIO()
    code = run_check(corpus / "season-pages", settings=Settings(), out=out, environ={})
    assert code == 1
    assert any(
        line.endswith(
            "season-02.md:56: error: S2E04: the AMA (Jun 11) is before the livestream (Jul 07) [ama-before-livestream]"
        )
        for line in out.getvalue().splitlines()
    )


def test_run_check_in_process_json(work: Path):
    out = io.StringIO()
    assert run_check(work / "good", settings=Settings(), fmt="json", out=out, environ={}) == 0
    assert json.loads(out.getvalue())["episodes"] == 2
