-- Discord scheduled events made from the content, the calendar feed's SEQUENCE numbers,
-- members' reminder choices, and reminder DMs in the outbox (kind 'dm').
-- Times are INTEGER microseconds since the Unix epoch, UTC, as in 0001.

-- One row per event the bot made (or tried to make), keyed event:<episode id>:<kind>.
-- Only ids in this table are ever edited: events people made are never touched.
CREATE TABLE guild_events (
    key         TEXT PRIMARY KEY,
    discord_id  INTEGER,                      -- NULL until Discord accepted the create
    spec_hash   TEXT NOT NULL DEFAULT '',     -- hash of the spec last applied
    status      INTEGER NOT NULL DEFAULT 1,   -- Discord's: 1 scheduled, 2 active, 3 completed, 4 cancelled
    body        TEXT NOT NULL DEFAULT '{}',   -- the JSON body last applied, to PATCH only what changed
    last_error  TEXT,
    error_kind  TEXT,                         -- 'permission' (Manage Events missing) or 'other'
    updated_at  INTEGER NOT NULL
);

CREATE UNIQUE INDEX guild_events_discord_id ON guild_events (discord_id)
    WHERE discord_id IS NOT NULL;

CREATE TABLE calendar_sequences (
    uid        TEXT PRIMARY KEY,              -- <episode id>-<kind>@amabot
    hash       TEXT NOT NULL,
    sequence   INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);

-- Per member and series (livestream, ama, recaps): role, dm or off, and the DM lead time.
CREATE TABLE optin_prefs (
    member_id    INTEGER NOT NULL,
    series       TEXT NOT NULL CHECK (series IN ('livestream', 'ama', 'recaps')),
    mode         TEXT NOT NULL CHECK (mode IN ('role', 'dm', 'off')),
    lead_seconds INTEGER NOT NULL DEFAULT 3600,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (member_id, series)
);

-- "Interested" on one of our Discord events (GUILD_SCHEDULED_EVENT_USER_ADD).
CREATE TABLE optin_interested (
    member_id  INTEGER NOT NULL,
    event_key  TEXT NOT NULL,                 -- event:<episode id>:<kind>
    created_at INTEGER NOT NULL,
    PRIMARY KEY (member_id, event_key)
);

-- Members whose DMs Discord refused (50007); not planned again until they opt in anew.
CREATE TABLE optin_dm_closed (
    member_id INTEGER PRIMARY KEY,
    reason    TEXT NOT NULL DEFAULT '',
    closed_at INTEGER NOT NULL
);

-- SQLite cannot change a CHECK constraint in place: rebuild the outbox to accept 'dm'.
CREATE TABLE outbox_new (
    key             TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('recap', 'reminder', 'announce', 'dm')),
    status          TEXT NOT NULL
                    CHECK (status IN ('pending', 'sending', 'sent', 'skipped', 'failed', 'cancelled')),
    due_at          INTEGER NOT NULL,
    next_attempt_at INTEGER,
    deadline        INTEGER,
    event_start     INTEGER,
    channel_id      INTEGER NOT NULL,
    payload         TEXT NOT NULL,
    content_hash    TEXT NOT NULL,
    subject         TEXT NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    reason          TEXT,
    message_id      INTEGER,
    edit_pending    INTEGER NOT NULL DEFAULT 0,
    created_by      INTEGER,
    cancelled_by    INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    extra           TEXT NOT NULL DEFAULT '{}'
);

INSERT INTO outbox_new (key, kind, status, due_at, next_attempt_at, deadline, event_start,
                        channel_id, payload, content_hash, subject, attempts, last_error, reason,
                        message_id, edit_pending, created_by, cancelled_by, created_at,
                        updated_at, sent_at, extra)
SELECT key, kind, status, due_at, next_attempt_at, deadline, event_start, channel_id, payload,
       content_hash, subject, attempts, last_error, reason, message_id, edit_pending,
       created_by, cancelled_by, created_at, updated_at, sent_at, extra
  FROM outbox;

DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;

CREATE INDEX outbox_status_due ON outbox (status, due_at);
CREATE INDEX outbox_edit_pending ON outbox (edit_pending) WHERE edit_pending = 1;
