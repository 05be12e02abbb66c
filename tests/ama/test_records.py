"""AMA records read back (bot/content/ama_records.py) and checked by `amabot check`."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from bot.cli.check import run_check
from bot.config import Settings
from bot.content.ama_records import load_records, parse_record
from bot.plan.ama import Question, QuestionState
from bot.render.ama_record import RecordHeader, render_record
from tests.builders import episode_md

T0 = datetime(2025, 7, 18, 17, 30, tzinfo=UTC)
HEADER = RecordHeader("model-mondays", "s9-e01", "S9:E1 Fine Tuning", T0, "America/New_York")


def rendered(answered: int = 2, waiting: int = 1) -> str:
    qs = [
        Question(
            i,
            100 + i,
            f"m{i}",
            f"Question {i} about tuning?",
            QuestionState.ANSWERED,
            T0,
            on_air_at=T0,
        )
        for i in range(answered)
    ] + [
        Question(50 + i, 200 + i, "n", f"Waiting {i}?", QuestionState.NOT_REACHED, T0)
        for i in range(waiting)
    ]
    return render_record(HEADER, qs)


def test_a_record_as_the_bot_writes_it_reads_back_with_its_counts():
    record, problems = parse_record(rendered().encode(), "ama/s9-e01.md")
    assert problems == []
    assert (record.episode_id, record.answered, record.not_reached, record.asked) == (
        "s9-e01",
        2,
        1,
        3,
    )
    assert record.series == "model-mondays"


def test_a_hand_edited_record_gets_path_line_diagnostics():
    text = (
        rendered()
        .replace("kind: ama-record", "kind: recap")
        .replace("answered: 2", "answered: lots")
    )
    record, problems = parse_record(text.encode(), "ama/s9-e01.md")
    assert record is None
    rendered_problems = [p.render() for p in problems]
    assert any(
        r.startswith("ama/s9-e01.md:4: error: an AMA record needs `kind: ama-record`")
        for r in rendered_problems
    ), rendered_problems
    assert any("counts.answered" in r and r.startswith("ama/s9-e01.md:") for r in rendered_problems)


def test_records_of_unknown_episodes_and_duplicates_are_told(tmp_path):
    (tmp_path / "ama").mkdir()
    (tmp_path / "ama" / "s9-e01.md").write_text(rendered())
    (tmp_path / "ama" / "s9-e01-copy.md").write_text(rendered())
    (tmp_path / "ama" / "broken.md").write_bytes(b"no frontmatter here\n")
    records, problems = load_records(tmp_path, "ama", [])
    assert set(records) == {"s9-e01"}
    codes = sorted(p.code for p in problems)
    assert codes.count("ama-orphan") == 2  # the episode is unknown: both files say so
    assert "ama-duplicate" in codes and "no-frontmatter" in codes


def test_amabot_check_reports_a_broken_record(tmp_path):
    root = tmp_path / "content"
    (root / "episodes").mkdir(parents=True)
    (root / "recaps").mkdir()
    (root / "episodes" / "s9-e01.md").write_text(episode_md())
    (root / "ama").mkdir()
    (root / "ama" / "s9-e01.md").write_text(rendered().replace("episode: s9-e01\n", ""))
    out = io.StringIO()
    code = run_check(root, settings=Settings(), out=out, environ={})
    assert code == 1
    assert "ama/s9-e01.md:1: error: an AMA record needs `episode:`" in out.getvalue()
    (root / "ama" / "s9-e01.md").write_text(rendered())
    out = io.StringIO()
    assert run_check(root, settings=Settings(), out=out, environ={}) == 0, out.getvalue()
