-- Several series (issue 20): the rows that belong to one show name it. Rows written before
-- get '' and are adopted by the series owning the bare key namespace at the next start-up
-- (bot/services/series_binding.py: the state key `series.home`), once: their keys never
-- change, so nothing is re-sent.
ALTER TABLE outbox ADD COLUMN series TEXT NOT NULL DEFAULT '';
CREATE INDEX outbox_series_status ON outbox (series, status);

ALTER TABLE guild_events ADD COLUMN series TEXT NOT NULL DEFAULT '';

ALTER TABLE optin_interested ADD COLUMN series TEXT NOT NULL DEFAULT '';

-- A member's choice is per series and stream: the primary key changes, so the table is rebuilt.
CREATE TABLE optin_prefs_new (
    member_id    INTEGER NOT NULL,
    series       TEXT NOT NULL DEFAULT '',
    stream       TEXT NOT NULL CHECK (stream IN ('livestream', 'ama', 'recaps')),
    mode         TEXT NOT NULL CHECK (mode IN ('role', 'dm', 'off')),
    lead_seconds INTEGER NOT NULL DEFAULT 3600,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (member_id, series, stream)
);
INSERT INTO optin_prefs_new (member_id, series, stream, mode, lead_seconds, updated_at)
SELECT member_id, '', stream, mode, lead_seconds, updated_at FROM optin_prefs;
DROP TABLE optin_prefs;
ALTER TABLE optin_prefs_new RENAME TO optin_prefs;
