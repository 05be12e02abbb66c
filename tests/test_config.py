"""Config: the example parses, every failure names file, key and fault, secrets stay secret."""

from __future__ import annotations

import subprocess
import sys
from datetime import time, timedelta
from pathlib import Path

import pytest

from bot.config import (
    ConfigError,
    ContentSettings,
    DiscordSettings,
    ReminderSettings,
    SeriesSettings,
    Settings,
    StorageSettings,
    discord_token,
    find_config,
    load_settings,
    parse_clock_time,
    parse_listen,
    parse_weekday,
    webhook_secret,
)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "config.example.toml"
TOKEN = "MTIzNDU2Nzg5MDEy.secret-token-value"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def fails(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert str(path) in str(info.value), "the message names the file"
    assert info.value.exit_code == 2
    return info.value


# --- the example and the defaults ------------------------------------------------------------


def test_example_config_parses_to_the_defaults_with_paths_resolved_against_its_folder():
    settings = load_settings(EXAMPLE, environ={})
    defaults = Settings()
    assert settings.discord == defaults.discord
    assert settings.series == defaults.series
    assert settings.announcements == defaults.announcements
    assert settings.reminders == defaults.reminders
    assert settings.organisers == defaults.organisers
    assert settings.webhook == defaults.webhook
    assert settings.site == defaults.site
    assert settings.content.path == REPO / "content"
    assert settings.content.episodes_dir == REPO / "content" / "episodes"
    assert settings.content.branch is None
    assert settings.content.poll_interval == 60.0
    assert settings.storage.database == REPO / "data" / "amabot.sqlite3"
    assert settings.source == str(EXAMPLE)


def test_example_config_documents_every_key_with_a_comment():
    import tomllib

    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    for section in ("discord", "content", "storage", "series", "announcements", "reminders"):
        assert section in data
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    key_lines = [ln for ln in lines if "=" in ln and not ln.startswith(("#", "["))]
    documented = {ln.split("=")[0].strip() for ln in key_lines if "#" in ln.split("=", 1)[1]}
    # keys without a trailing comment must sit right under a documented sibling (ama_time...)
    assert {"token_env", "guild_id", "offsets", "grace", "listen", "recaps_url"} <= documented
    assert sum(len(v) for v in data.values()) == len(key_lines)


def test_no_file_gives_the_defaults():
    assert load_settings(None) == Settings()


def test_a_full_config_parses_every_value(tmp_path):
    path = write(
        tmp_path,
        """
        [discord]
        token_env = "AMABOT_TOKEN"
        api_base = "http://127.0.0.1:5000/api/v10/"
        gateway_url = "ws://127.0.0.1:5000/gateway"
        guild_id = "123456789012345678"
        [content]
        path = "../shows"
        poll_interval = "5m"
        branch = "main"
        git_timeout = 12.5
        [storage]
        database = "~/amabot/db.sqlite3"
        [series]
        name = "Show"
        timezone = "Europe/Paris"
        livestream_time = "9:05"
        livestream_duration = "1h30m"
        ama_weekday = "Thu"
        ama_time = 18:00:00
        ama_duration = "45m"
        [announcements]
        channel_id = 11
        role_id = "12"
        backlog_days = 7
        [reminders]
        channel_id = 21
        offsets = ["24h", "60m", "0m", "90s"]
        grace = { "1h" = "15m", "0m" = "2m" }
        ama_channel_id = 22
        livestream_role_id = 23
        [organisers]
        role_ids = [31, "32", 31]
        [webhook]
        listen = "[::1]:0"
        secret_env = "HOOK_SECRET"
        [site]
        recaps_url = "https://example.org/blog/{yyyy}/{mm}/{dd}/{slug}/"
        """,
    )
    s = load_settings(path, environ={"HOME": "/home/ops"})
    assert s.discord == DiscordSettings(
        token_env="AMABOT_TOKEN",
        api_base="http://127.0.0.1:5000/api/v10",
        gateway_url="ws://127.0.0.1:5000/gateway",
        guild_id=123456789012345678,
    )
    assert s.content == ContentSettings(
        path=tmp_path.parent / "shows",
        poll_interval=300.0,
        branch="main",
        git_timeout=12.5,
    )
    assert s.storage == StorageSettings(database=Path("/home/ops/amabot/db.sqlite3"))
    assert s.series == SeriesSettings(
        id="show",  # the name's slug
        name="Show",
        timezone="Europe/Paris",
        livestream_time=time(9, 5),
        livestream_duration=timedelta(hours=1, minutes=30),
        ama_weekday=3,
        ama_time=time(18, 0),
        ama_duration=timedelta(minutes=45),
    )
    assert (s.announcements.channel_id, s.announcements.role_id) == (11, 12)
    assert s.announcements.backlog_days == 7
    assert s.reminders == ReminderSettings(
        channel_id=21,
        offsets=(timedelta(hours=24), timedelta(hours=1), timedelta(0), timedelta(seconds=90)),
        grace=((timedelta(hours=1), timedelta(minutes=15)), (timedelta(0), timedelta(minutes=2))),
        ama_channel_id=22,
        livestream_role_id=23,
    )
    assert s.reminders.channel_for("ama") == 22
    assert s.reminders.channel_for("livestream") == 21
    assert s.reminders.grace_for(timedelta(hours=1)) == timedelta(minutes=15)
    assert s.reminders.grace_for(timedelta(hours=24)) == timedelta(hours=2)
    assert s.organisers.role_ids == (31, 32)
    assert s.webhook.listen == "[::1]:0"
    assert s.webhook.secret_env == "HOOK_SECRET"


# --- failure modes: each names the key and says what is wrong --------------------------------

FAILURES = [
    ("[discord]\nguild_id = -1\n", "discord.guild_id", "expected a Discord id"),
    ("[discord]\nguild_id = true\n", "discord.guild_id", "expected a Discord id"),
    ("[discord]\nguild_id = '12ab'\n", "discord.guild_id", "expected a Discord id"),
    ("[discord]\napi_base = 'discord.com/api'\n", "discord.api_base", "not a http or https URL"),
    ("[discord]\ngateway_url = 'https://x'\n", "discord.gateway_url", "not a ws or wss URL"),
    ("[content]\npath = ''\n", "content.path", "must not be empty"),
    ("[content]\npath = 5\n", "content.path", "expected a string, got a number"),
    ("[content]\nepisodes = '../elsewhere'\n", "content.episodes", "inside content.path"),
    ("[content]\nrecaps = '/abs/recaps'\n", "content.recaps", "inside content.path"),
    ("[content]\npoll_interval = 0\n", "content.poll_interval", "above 0"),
    ("[content]\ngit_timeout = 'soon'\n", "content.git_timeout", "is not a duration"),
    ("[content]\nremote = ''\n", "content.remote", "must not be empty"),
    ("[series]\ntimezone = 'Mars/Olympus'\n", "series.timezone", "not an IANA time zone"),
    ("[series]\ntimezone = 'europe/paris'\n", "series.timezone", 'did you mean "Europe/Paris"'),
    ("[series]\nlivestream_time = '25:00'\n", "series.livestream_time", "not a time of day"),
    ("[series]\nama_time = '10h30'\n", "series.ama_time", "not a time of day"),
    (
        "[series]\nlivestream_duration = '30 minutes'\n",
        "series.livestream_duration",
        "not a duration",
    ),
    ("[series]\nama_duration = '0m'\n", "series.ama_duration", "longer than 0"),
    ("[series]\nama_weekday = 'fryday'\n", "series.ama_weekday", "not a weekday"),
    ("[series]\nama_weekday = 4\n", "series.ama_weekday", "not a weekday"),
    ("[series]\nname = ''\n", "series.name", "must not be empty"),
    ("[announcements]\nbacklog_days = -3\n", "announcements.backlog_days", "0 or more"),
    ("[announcements]\nchannel_id = 1.5\n", "announcements.channel_id", "expected a Discord id"),
    ("[reminders]\noffsets = '1h'\n", "reminders.offsets", "expected a list"),
    ("[reminders]\noffsets = ['1h', 'soon']\n", "reminders.offsets[1]", "not a duration"),
    ("[reminders]\noffsets = ['1h', 10]\n", "reminders.offsets[1]", "expected a duration"),
    ("[reminders]\noffsets = ['1h', '60m']\n", "reminders.offsets[1]", "1h is listed twice"),
    (
        "[reminders]\ngrace = { '2h' = '5m' }\n",
        "reminders.grace.2h",
        "not one of reminders.offsets",
    ),
    ("[reminders]\ngrace = { '1h' = 'x' }\n", "reminders.grace.1h", "not a duration"),
    ("[reminders]\ngrace = '15m'\n", "reminders.grace", "expected a table"),
    ("[reminders]\nama_role_id = 'role'\n", "reminders.ama_role_id", "expected a Discord id"),
    ("[organisers]\nrole_ids = [1, 'x']\n", "organisers.role_ids[1]", "expected a Discord id"),
    ("[organisers]\nrole_ids = [0]\n", "organisers.role_ids[0]", "0 is not a role id"),
    ("[organisers]\nrole_ids = 5\n", "organisers.role_ids", "expected a list"),
    ("[webhook]\nlisten = '8080'\n", "webhook.listen", '"host:port"'),
    ("[webhook]\nlisten = 'localhost:99999'\n", "webhook.listen", "out of range"),
    ("[site]\nrecaps_url = 'https://x/{year}/'\n", "site.recaps_url", "unknown placeholder {year}"),
    ("[site]\nrecaps_url = 'https://x/{slug'\n", "site.recaps_url", "unbalanced braces"),
    ("[site]\nrecaps_url = 'x/{slug}'\n", "site.recaps_url", "not an http(s) URL"),
    ("discord = 5\n", "discord", "expected a table [discord]"),
]


@pytest.mark.parametrize(("text", "key", "fault"), FAILURES, ids=[f[1] for f in FAILURES])
def test_every_bad_value_names_the_key_and_the_fault(tmp_path, text, key, fault):
    error = fails(tmp_path, text)
    assert error.key == key
    assert f"key {key}:" in str(error)
    assert fault in str(error)


def test_unknown_key_is_an_error_with_a_did_you_mean(tmp_path):
    error = fails(tmp_path, "[reminders]\nofsets = ['1h']\n")
    assert error.key == "reminders.ofsets"
    assert "unknown key; did you mean reminders.offsets?" in str(error)


def test_a_key_in_the_wrong_section_says_where_it_belongs(tmp_path):
    error = fails(tmp_path, "[content]\ntimezone = 'UTC'\n")
    assert "it belongs in [series] (series.timezone)" in str(error)


def test_unknown_section_is_an_error_with_a_did_you_mean(tmp_path):
    error = fails(tmp_path, "[reminder]\noffsets = ['1h']\n")
    assert error.key == "reminder"
    assert "unknown section; did you mean reminders?" in str(error)


def test_a_top_level_token_is_refused_without_echoing_it(tmp_path):
    error = fails(tmp_path, f"token = '{TOKEN}'\n")
    assert "unknown section" in str(error)
    assert TOKEN not in str(error)


def test_a_token_pasted_into_token_env_is_refused_without_echoing_it(tmp_path):
    error = fails(tmp_path, f"[discord]\ntoken_env = '{TOKEN}'\n")
    assert error.key == "discord.token_env"
    assert "name of an environment variable" in str(error)
    assert TOKEN not in str(error)


def test_toml_syntax_error_gives_the_line(tmp_path):
    error = fails(tmp_path, "[discord]\nguild_id = 1\napi_base = \n")
    assert "not valid TOML" in str(error)
    assert "line 3" in str(error)


def test_non_utf8_file_is_a_config_error(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b"[series]\nname = '\xff'\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(path)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")


# --- secrets from the environment only -------------------------------------------------------


def test_token_comes_from_the_named_environment_variable(tmp_path):
    settings = load_settings(write(tmp_path, "[discord]\ntoken_env = 'MY_TOKEN'\n"))
    assert discord_token(settings, {"MY_TOKEN": f" {TOKEN}\n"}) == TOKEN
    assert TOKEN not in repr(settings)


@pytest.mark.parametrize("environ", [{}, {"DISCORD_TOKEN": ""}, {"DISCORD_TOKEN": "  "}])
def test_missing_token_names_the_variable(environ):
    with pytest.raises(ConfigError) as info:
        discord_token(Settings(), environ)
    assert "DISCORD_TOKEN" in str(info.value)
    assert info.value.key == "discord.token_env"
    assert info.value.exit_code == 2


def test_webhook_secret_required_only_when_listening(tmp_path):
    assert webhook_secret(Settings(), {}) == b""
    settings = load_settings(write(tmp_path, "[webhook]\nlisten = '127.0.0.1:8080'\n"))
    with pytest.raises(ConfigError) as info:
        webhook_secret(settings, {"GITHUB_WEBHOOK_SECRET": ""})
    assert "GITHUB_WEBHOOK_SECRET" in str(info.value)
    assert str(settings.source) in str(info.value)
    assert webhook_secret(settings, {"GITHUB_WEBHOOK_SECRET": "s3cr3t"}) == b"s3cr3t"


# --- finding the file ------------------------------------------------------------------------


def test_find_config_order(tmp_path, monkeypatch):
    explicit = write(tmp_path, "")
    monkeypatch.chdir(tmp_path)
    assert find_config(str(explicit), {}) == explicit
    with pytest.raises(ConfigError, match="config file not found"):
        find_config(str(tmp_path / "missing.toml"), {})
    named = tmp_path / "named.toml"
    named.write_text("", encoding="utf-8")
    assert find_config(None, {"AMABOT_CONFIG": str(named)}) == named
    with pytest.raises(ConfigError, match=r"\$AMABOT_CONFIG"):
        find_config(None, {"AMABOT_CONFIG": str(tmp_path / "gone.toml")})
    assert find_config(None, {}) == tmp_path / "config.toml"
    (tmp_path / "config.toml").unlink()
    assert find_config(None, {}) is None


def test_cli_exits_2_on_a_config_error(tmp_path):
    path = write(tmp_path, "[series]\ntimezone = 'Nowhere/Land'\n")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "check", "--config", str(path), str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "key series.timezone" in result.stderr
    assert str(path) in result.stderr


# --- the small parsers others use ------------------------------------------------------------


def test_small_parsers():
    assert parse_clock_time("10:30") == time(10, 30)
    assert parse_weekday("FRIDAY") == 4
    assert parse_weekday("mon") == 0
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:0") == ("::1", 0)
    with pytest.raises(ValueError):
        parse_weekday("t")  # tuesday or thursday?


# --- several series: [[series]] ---------------------------------------------------------------


def _example_series_block() -> str:
    """The example's commented `[[series]]` block, uncommented."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    start = lines.index("# ---- Several series " + "-" * 74)
    block = [
        ln[2:]
        for ln in lines[start:]
        if ln.startswith("# [") or (ln.startswith("# ") and "=" in ln)
    ]
    return "\n".join(block)


def test_example_documents_the_series_sub_tables_and_its_block_parses(tmp_path):
    block = _example_series_block()
    settings = load_settings(write(tmp_path, block), environ={})
    assert [v.series.id for v in settings.shows()] == ["model-mondays", "talk-tuesdays"]
    key_lines = [ln for ln in block.splitlines() if "=" in ln and not ln.startswith("[")]
    assert all("#" in ln.split("=", 1)[1] for ln in key_lines), "every example key has a comment"
    tables = {ln.split("]")[0].strip("[") for ln in block.splitlines() if ln.startswith("[")}
    assert {f"series.{t}" for t in ("content", "announcements", "reminders", "events")} <= tables
    assert {"series.optin", "series.ama"} <= tables
    documented = {ln.split("=")[0].strip() for ln in key_lines}
    assert {"path", "remote", "branch", "episodes", "recaps", "ama"} <= documented


SERIES_TWO = """
[content]
path = "shows"
[announcements]
channel_id = 5
role_id = 6
[reminders]
channel_id = 7
offsets = ["24h", "1h"]
[[series]]
id = "model-mondays"
name = "Model Mondays"
[[series]]
id = "talk-tuesdays"
name = "Talk Tuesdays"
timezone = "Europe/Paris"
ama_weekday = "wednesday"
[series.content]
episodes = "talk/episodes"
recaps = "talk/recaps"
ama = "talk/ama"
[series.announcements]
channel_id = 50
[series.reminders]
offsets = ["2h"]
"""


def test_series_array_gives_one_view_per_series_and_the_top_level_is_the_first(tmp_path):
    settings = load_settings(write(tmp_path, SERIES_TWO), environ={})
    first, second = settings.shows()
    assert settings.series == first.series and settings.announcements == first.announcements
    assert settings.show("talk-tuesdays") is second
    assert first.content.episodes_dir == tmp_path / "shows" / "episodes"
    assert second.content.episodes_dir == tmp_path / "shows" / "talk" / "episodes"
    assert (second.series.name, second.series.timezone) == ("Talk Tuesdays", "Europe/Paris")
    assert second.series.ama_weekday == 2
    # Own keys win; a key a series does not set comes from the top-level section.
    assert (second.announcements.channel_id, second.announcements.role_id) == (50, 6)
    assert (first.announcements.channel_id, first.announcements.role_id) == (5, 6)
    assert second.reminders.offsets == (timedelta(hours=2),)
    assert second.reminders.channel_id == 7
    assert first.reminders.offsets == (timedelta(hours=24), timedelta(hours=1))
    assert all(v.series.key_prefix == "" for v in settings.shows()), "set at start-up, not here"


def test_one_series_table_stays_one_series(tmp_path):
    settings = load_settings(write(tmp_path, '[series]\nname = "Talk Tuesdays"\n'), environ={})
    assert settings.shows() == (settings,)
    assert settings.series.id == "talk-tuesdays"


def test_a_series_own_checkout(tmp_path):
    text = SERIES_TWO.replace(
        '[series.content]\nepisodes = "talk/episodes"',
        '[series.content]\npath = "../talk"\nremote = "upstream"\nbranch = "main"\n'
        'episodes = "talk/episodes"',
    )
    second = load_settings(write(tmp_path, text), environ={}).show("talk-tuesdays")
    assert second.content.path == tmp_path.parent / "talk"
    assert (second.content.remote, second.content.branch) == ("upstream", "main")


@pytest.mark.parametrize(
    ("change", "key", "fault"),
    [
        (
            ('offsets = ["2h"]', 'offsets = ["2x"]'),
            "series[talk-tuesdays].reminders.offsets[0]",
            "2x",
        ),
        (
            ("channel_id = 50", 'channel_id = "x"'),
            "series[talk-tuesdays].announcements.channel_id",
            "Discord id",
        ),
        (
            ("[series.reminders]", "[series.reminders]\nchanel_id = 1"),
            "series[talk-tuesdays].reminders.chanel_id",
            "channel_id",
        ),
        (
            ('timezone = "Europe/Paris"', 'timezone = "Europe/Pariss"'),
            "series[talk-tuesdays].timezone",
            "Europe/Paris",
        ),
        (('id = "talk-tuesdays"', 'id = "model-mondays"'), "series[model-mondays].id", "same id"),
        (
            ('name = "Talk Tuesdays"', 'name = "Model Mondays"'),
            "series[talk-tuesdays].name",
            "same name",
        ),
        (
            ('episodes = "talk/episodes"', 'episodes = "episodes"'),
            "series[talk-tuesdays].content.episodes",
            "own episodes folder",
        ),
        (('id = "talk-tuesdays"', 'id = "Talk Tuesdays"'), "series[1].id", "slug"),
        (
            ("[series.content]", "[series.content]\npoll_interval = 5"),
            "series[talk-tuesdays].content.poll_interval",
            "shared by every series",
        ),
        (
            ('ama_weekday = "wednesday"', 'ama_weekday = "wednesday"\nstage = 1'),
            "series[talk-tuesdays].stage",
            "unknown key",
        ),
        # A bad value taken from the top-level section is named there.
        (
            ("[announcements]\nchannel_id = 5", "[announcements]\nchannel_id = -5"),
            "announcements.channel_id",
            "Discord id",
        ),
    ],
)
def test_series_errors_name_the_series_and_the_key(tmp_path, change, key, fault):
    old, new = change
    assert old in SERIES_TWO
    error = fails(tmp_path, SERIES_TWO.replace(old, new, 1))
    assert error.key == key
    assert fault in str(error)


def test_key_prefix_is_not_a_config_key(tmp_path):
    error = fails(tmp_path, '[series]\nkey_prefix = "x/"\n')
    assert error.key == "series.key_prefix"
