"""A corpus of hostile content files, generated (never committed as binary junk).

Each case is one file under a content root and the diagnostic it must get: its code, and
where it matters its line or a fragment of the message. `write_corpus(root)` lays every case
out in one content root (the way `amabot check` meets them in a real repository);
`write_case(root, case)` lays out one, so each is timed on its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

EPISODE = "---\nseason: 2\nepisode: 5\ntitle: Fine Tuning\n{extra}---\nThe long description.\n"
RECAP = "---\ndate:\n  created: 2025-07-14\n{extra}---\n# S2:E5 Recap\n\n> The summary.\n{body}"


def episode(extra: str = "") -> bytes:
    return EPISODE.format(extra=extra).encode()


def recap(extra: str = "", body: str = "") -> bytes:
    return RECAP.format(extra=extra, body=body).encode()


def _billion_laughs() -> bytes:
    rows = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        rows.append(f"{cur}: &{cur} [{','.join(['*' + prev] * 9)}]")
    return ("---\n" + "\n".join(rows) + "\ntitle: boom\n---\n").encode()


@dataclass(frozen=True)
class Case:
    rel: str  # path under the content root
    make: bytes | Callable[[Path, Path], None]  # bytes, or (root, path) -> writes it
    code: str | None  # the diagnostic code it must get; None: loads cleanly
    line: int | None = None
    says: str = ""  # a fragment of the message
    severity: str = "error"

    @property
    def id(self) -> str:
        return self.rel.replace("/", "~")


def _symlink(target: Callable[[Path], Path | str]) -> Callable[[Path, Path], None]:
    def make(root: Path, path: Path) -> None:
        path.symlink_to(target(root))

    return make


def _loop(root: Path, path: Path) -> None:
    other = path.with_name("loop-b.md")
    path.symlink_to(other.name)
    if not other.is_symlink():
        other.symlink_to(path.name)


def _fifo(root: Path, path: Path) -> None:
    os.mkfifo(path)


def _outside(root: Path) -> Path:
    secret = root.parent / f"{root.name}-outside" / "secret.md"
    secret.parent.mkdir(exist_ok=True)
    secret.write_bytes(episode())
    return secret


CASES: list[Case] = [
    # -- YAML bombs and parser abuse ---------------------------------------------------------
    Case("episodes/billion-laughs.md", _billion_laughs(), "yaml-aliases", 2, "too many aliases"),
    Case(
        "episodes/alias-cycle.md",
        b"---\nseason: &s [*s]\nepisode: 5\ntitle: T\n---\n",
        "yaml-aliases",
        2,
    ),
    Case(
        "episodes/merge-bomb.md",
        b"---\n"
        + b"x: &x {"
        + b", ".join(f"k{i}: {i}".encode() for i in range(60))
        + b"}\n"
        + b"".join(f"y{i}: &y{i} {{<<: [*x]}}\n".encode() for i in range(200))
        + b"title: T\n---\n",
        "yaml-aliases",
        2,
    ),
    # Deeper than libyaml's own limit (newer releases refuse 1,000 levels themselves), and
    # between ours and theirs: the same diagnostic either way.
    Case(
        "episodes/deep-flow.md",
        b"---\ntitle: " + b"[" * 60_000 + b"]" * 60_000 + b"\n---\n",
        "yaml-depth",
        2,
    ),
    Case(
        "episodes/deep-flow-100.md",
        b"---\nseason: 2\ntitle: " + b"[" * 100 + b"]" * 100 + b"\n---\n",
        "yaml-depth",
        3,
    ),
    Case(
        "episodes/deep-map.md",
        b"---\nt: " + b"{a: " * 20_000 + b"1" + b"}" * 20_000 + b"\n---\n",
        "yaml-depth",
        2,
    ),
    Case("episodes/deep-dashes.md", b"---\nt:\n" + b"- " * 200_000 + b"x\n---\n", "yaml-depth", 3),
    Case(
        "episodes/deep-block.md",
        b"---\n" + b"".join(b" " * i + b"k:\n" for i in range(300)) + b"---\n",
        "yaml-depth",
    ),
    Case(
        "episodes/python-tag.md",
        episode("x: !!python/object/apply:os.system ['touch /tmp/pwned']\n"),
        "yaml-syntax",
        5,
        "`!!python/object/apply:os.system`",
    ),
    Case(
        "episodes/binary-tag.md",
        episode().replace(b"title: Fine Tuning", b"title: !!binary aGk="),
        "bad-type",
        4,
        "`title` must be text, not bytes",
    ),
    Case("episodes/unclosed-flow.md", episode("tags: [a, b\n"), "yaml-syntax", 5),
    Case(
        "episodes/unclosed-frontmatter.md", b"---\nseason: 2\ntitle: T\n", "frontmatter-unclosed", 1
    ),
    Case(
        "episodes/tab-indent.md",
        b"---\nlivestream:\n\tstart: 2025-07-14T13:30\n---\n",
        "yaml-syntax",
        3,
    ),
    Case("episodes/unhashable-key.md", episode("? [a, b]\n: 1\n"), "yaml-syntax"),
    Case(
        "episodes/non-text-key.md",
        episode("1: one\n"),
        "bad-field",
        None,
        "field names must be text",
    ),
    # -- bytes -------------------------------------------------------------------------------
    Case(
        "episodes/huge.md",
        episode("summary: " + "x" * (1 << 20) + "\n"),
        "too-large",
        None,
        "larger than 1 MiB",
    ),
    Case("recaps/huge-body.md", recap(body="word " * 220_000), "too-large"),
    Case(
        "episodes/png.md",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8,
        "binary",
        3,
    ),
    Case("episodes/nul.md", episode("summary: a\x00b\n"), "binary", 5, "NUL bytes"),
    Case(
        "episodes/utf16.md",
        "\ufeff".encode("utf-16-le") + episode().decode().encode("utf-16-le"),
        "encoding",
        1,
        "UTF-16",
    ),
    Case(
        "episodes/latin1.md",
        episode("summary: caf\xe9\n").decode().encode("latin-1"),
        "encoding",
        5,
        "byte 0xe9",
    ),
    Case(
        "episodes/lone-surrogate.md",
        episode("summary: x\n").replace(b"x\n", b"\xed\xa0\x80\n"),
        "encoding",
        5,
    ),
    Case("recaps/empty.md", b"", "empty"),
    Case("recaps/whitespace.md", b" \n\t\n\r\n", "empty"),
    # -- encodings that are fine: CRLF, BOM, old Mac CR -- the line numbers must still be right
    Case(
        "episodes/crlf.md",
        episode("livestream:\n  start: 2025-07-14T13:30\n  duration: -5m\n").replace(
            b"\n", b"\r\n"
        ),
        "bad-duration",
        7,
    ),
    Case(
        "episodes/bom-crlf.md",
        b"\xef\xbb\xbf" + episode("timezone: Nowhere/Land\n").replace(b"\n", b"\r\n"),
        "bad-timezone",
        5,
    ),
    Case("episodes/cr-only.md", episode("status: later\n").replace(b"\n", b"\r"), "bad-status", 5),
    # -- the frontmatter is not a mapping ----------------------------------------------------
    Case(
        "episodes/fm-list.md",
        b"---\n- season: 2\n- title: T\n---\n",
        "frontmatter-not-mapping",
        2,
        "a list",
    ),
    Case(
        "episodes/fm-string.md",
        b"---\njust a sentence\n---\n",
        "frontmatter-not-mapping",
        2,
        "a str",
    ),
    Case("episodes/fm-number.md", b"---\n42\n---\n", "frontmatter-not-mapping", 2, "a int"),
    Case("episodes/fm-empty.md", b"---\n---\nbody\n", "frontmatter-not-mapping", 1, "empty"),
    Case("episodes/no-frontmatter.md", b"# Just markdown\n", "no-frontmatter", 1),
    # -- times ------------------------------------------------------------------------------
    Case("episodes/year-0.md", episode("livestream:\n  start: 0000-01-01T10:00\n"), "bad-time", 6),
    Case(
        "episodes/year-0-yaml-date.md",
        episode("livestream:\n  start: 0000-01-01 10:00:00\n"),
        "bad-date",
        6,
        "0000-01-01",
    ),
    Case(
        "episodes/year-1-tokyo.md",
        episode("timezone: Asia/Tokyo\nlivestream:\n  start: 0001-01-01T00:30\n"),
        "bad-time",
        7,
        "year 1 is out of range",
    ),
    Case(
        "episodes/year-9999-new-york.md",
        episode("timezone: America/New_York\nlivestream:\n  start: 9999-12-31T23:00\n"),
        "bad-time",
        7,
        "year 9999 is out of range",
    ),
    Case(
        "episodes/year-99999.md",
        episode("livestream:\n  start: 99999-01-01T10:00\n"),
        "bad-time",
        6,
    ),
    Case(
        "recaps/year-9999-offset.md",
        recap().replace(b"2025-07-14", b"9999-12-31T23:59:59-12:00"),
        "bad-time",
        3,
    ),
    Case(
        "episodes/offset-24h.md",
        episode("livestream:\n  start: 2025-07-14T13:30+24:00\n"),
        "bad-time",
        6,
    ),
    Case(
        "episodes/offset-24h-yaml.md",
        episode("livestream:\n  start: 2025-07-14 13:30:00 +24:00\n"),
        "bad-date",
    ),
    Case(
        "episodes/offset-99.md",
        episode("livestream:\n  start: 2025-07-14T13:30+99:99\n"),
        "bad-time",
        6,
    ),
    Case("episodes/feb-30.md", episode("livestream:\n  start: 2025-02-30T13:30\n"), "bad-time", 6),
    Case("episodes/unknown-zone.md", episode("timezone: Mars/Olympus_Mons\n"), "bad-timezone", 5),
    Case(
        "episodes/zone-traversal.md",
        episode("timezone: ../../../../etc/passwd\n"),
        "bad-timezone",
        5,
    ),
    Case("episodes/zone-not-text.md", episode("timezone: [UTC]\n"), "bad-timezone", 5),
    Case(
        "episodes/negative-duration.md",
        episode("livestream:\n  start: 2025-07-14T13:30\n  duration: -30m\n"),
        "bad-duration",
        7,
    ),
    Case(
        "episodes/zero-duration.md",
        episode("ama:\n  start: 2025-07-18T13:30\n  duration: 0m\n"),
        "bad-duration",
        7,
    ),
    Case(
        "episodes/huge-duration.md",
        episode("livestream:\n  start: 2025-07-14T13:30\n  duration: 99999999999999999999h\n"),
        "bad-duration",
        7,
    ),
    Case(
        "episodes/huge-int-duration.md",
        episode("livestream:\n  start: 2025-07-14T13:30\n  duration: 999999999999999999999\n"),
        "bad-duration",
        7,
    ),
    # -- sizes ---------------------------------------------------------------------------------
    Case(
        "episodes/10000-tags.md",
        episode("tags:\n" + "".join(f"- tag{i}\n" for i in range(10_000))),
        "too-many-items",
        5,
        "10000 entries",
        "warning",
    ),
    Case(
        "episodes/10000-unknown-fields.md",
        episode("".join(f"field{i}: x\n" for i in range(10_000))),
        "too-many-problems",
        None,
        "more problems",
        "warning",
    ),
    Case(
        "recaps/10000-broken-images.md",
        recap(body="![alt(x.png)\n" * 10_000),
        "too-many-problems",
        None,
        "9950 more problems",
        "warning",
    ),
    Case(
        "episodes/season-huge.md",
        episode().replace(b"season: 2", b"season: 99999999999999999999999"),
        "bad-type",
        2,
    ),
    Case("episodes/season-inf.md", episode().replace(b"season: 2", b"season: .inf"), "bad-type", 2),
    # -- text that takes regexes the long way round ------------------------------------------
    Case(
        "recaps/long-heading.md",
        recap().replace(b"# S2:E5 Recap", b"# S2 " + b" " * 200_000 + b"x"),
        "too-long",
        5,
        "title is 200004 characters",
        "warning",
    ),
    Case(
        "recaps/italic-lines.md",
        b"---\ndate: 2025-07-14\n---\n# T\n\n" + b"*a\n" * 150_000,
        "flat-date",
        2,
        "",
        "warning",
    ),
    Case(
        "episodes/long-key-row.md",
        episode("? k" + " " * 200_000 + "x\n: 1\n"),
        "unknown-field",
        None,
        "",
        "warning",
    ),
    Case(
        "episodes/control-chars.md",
        episode('"\\e[2J\\rfake.md:1: error: forged": 1\n'),
        "unknown-field",
        None,
        "fake.md",
        "warning",
    ),
    # -- file system ---------------------------------------------------------------------------
    Case("episodes/loop-a.md", _loop, "symlink", None, "loops"),
    Case(
        "episodes/outside.md",
        _symlink(_outside),
        "symlink-outside",
        None,
        "outside the content folder",
    ),
    Case("episodes/etc-passwd.md", _symlink(lambda root: Path("/etc/passwd")), "symlink-outside"),
    Case("recaps/outside-dir", _symlink(lambda root: _outside(root).parent), "symlink-outside"),
    Case("episodes/dangling.md", _symlink(lambda root: root / "nowhere.md"), "symlink"),
    Case("episodes/fifo.md", _fifo, "not-a-file", None, "not a regular file"),
    Case(
        "episodes/with spaces.md",
        episode("livestream:\n  start: 2025-07-14T13:30\n  duration: 1h\n").replace(
            b"episode: 5", b"episode: 8"
        ),
        "bad-id",
        1,
        "rename the file",
        "warning",
    ),
    Case("episodes/épisode-ünïcødé-🎙.md", episode("status: soon\n"), "bad-status", 5),
    Case("episodes/..md", episode("status: soon\n"), "bad-status", 5),
    Case("episodes/a..b.md", episode().replace(b"episode: 5", b"episode: 6"), None),
    Case("episodes/\u202egpj.md", episode().replace(b"episode: 5", b"episode: 7"), None),
]
assert len(CASES) >= 40
assert len({c.rel for c in CASES}) == len(CASES)


def write_case(root: Path, case: Case) -> Path:
    path = root / case.rel
    path.parent.mkdir(parents=True, exist_ok=True)
    for folder in ("episodes", "recaps"):
        (root / folder).mkdir(exist_ok=True)
    if isinstance(case.make, bytes):
        path.write_bytes(case.make)
    else:
        case.make(root, path)
    return path


def write_corpus(root: Path) -> Path:
    for case in CASES:
        write_case(root, case)
    return root
