-- Several series (issue 20), as SQLite's 0007: the rows that belong to one show name it.
-- Rows written before get '' and are adopted by the series owning the bare key namespace at
-- the next start-up (the state key `series.home`, `Store.claim_home_series`), once: their
-- keys never change, so nothing is re-sent.
ALTER TABLE outbox ADD COLUMN series TEXT COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX outbox_series_status ON outbox (series, status);

ALTER TABLE guild_events ADD COLUMN series TEXT COLLATE "C" NOT NULL DEFAULT '';

ALTER TABLE optin_interested ADD COLUMN series TEXT COLLATE "C" NOT NULL DEFAULT '';

-- A member's choice is per series and stream: the primary key changes (in place here).
ALTER TABLE optin_prefs ADD COLUMN series TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE optin_prefs DROP CONSTRAINT optin_prefs_pkey,
    ADD PRIMARY KEY (member_id, series, stream);
