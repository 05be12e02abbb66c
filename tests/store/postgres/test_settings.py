"""`[storage] database` as a PostgreSQL URL: kept as text, never with a password in it; the
password comes from the environment variable named by `[storage] password_env`."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, StorageSettings, load_settings
from bot.store import database_password, is_database_url


def settings(tmp_path: Path, storage: str) -> StorageSettings:
    path = tmp_path / "config.toml"
    path.write_text(f"[storage]\n{storage}\n", encoding="utf-8")
    return load_settings(path, environ={}).storage


def test_a_url_is_kept_as_given_and_the_default_stays_a_sqlite_file(tmp_path):
    url = "postgresql://amabot@db.internal:5432/amabot"
    chosen = settings(tmp_path, f'database = "{url}"\npassword_env = "PGPASS_AMABOT"')
    assert chosen == StorageSettings(database=url, password_env="PGPASS_AMABOT")
    assert is_database_url(chosen.database)
    default = settings(tmp_path, "")
    assert default.database == tmp_path / "data" / "amabot.sqlite3"
    assert default.password_env == "AMABOT_DATABASE_PASSWORD"
    assert not is_database_url(default.database)


def test_a_password_in_the_url_is_refused_without_repeating_it(tmp_path):
    with pytest.raises(ConfigError) as info:
        settings(tmp_path, 'database = "postgresql://amabot:hunter2@db.internal/amabot"')
    message = str(info.value)
    assert "storage.database" in message and "storage.password_env" in message
    assert "hunter2" not in message


def test_the_password_comes_from_the_named_variable_or_is_none():
    assert database_password("PGPASS_AMABOT", {"PGPASS_AMABOT": "s3cret"}) == "s3cret"
    assert database_password("PGPASS_AMABOT", {}) is None
    assert database_password("PGPASS_AMABOT", {"PGPASS_AMABOT": ""}) is None
