-- The outbox (DESIGN "Posting"), bot state, the organisers' audit trail and sequences.
-- Times are INTEGER microseconds since the Unix epoch, UTC: they compare correctly in SQL
-- and round-trip exactly.

CREATE TABLE outbox (
    key             TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('recap', 'reminder', 'announce')),
    status          TEXT NOT NULL
                    CHECK (status IN ('pending', 'sending', 'sent', 'skipped', 'failed', 'cancelled')),
    due_at          INTEGER NOT NULL,
    next_attempt_at INTEGER,            -- set by a retry; NULL = as soon as due
    deadline        INTEGER,
    event_start     INTEGER,
    channel_id      INTEGER NOT NULL,
    payload         TEXT NOT NULL,      -- Discord message JSON
    content_hash    TEXT NOT NULL,
    subject         TEXT NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    reason          TEXT,               -- why skipped / failed / cancelled
    message_id      INTEGER,
    edit_pending    INTEGER NOT NULL DEFAULT 0,  -- sent, but its payload changed since: PATCH it
    created_by      INTEGER,
    cancelled_by    INTEGER,            -- the organiser who cancelled; NULL = cancelled by planning
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    extra           TEXT NOT NULL DEFAULT '{}'
);

CREATE INDEX outbox_status_due ON outbox (status, due_at);
CREATE INDEX outbox_edit_pending ON outbox (edit_pending) WHERE edit_pending = 1;

CREATE TABLE state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE audit (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    action   TEXT NOT NULL,
    key      TEXT,
    actor_id INTEGER,
    detail   TEXT NOT NULL DEFAULT ''
);

CREATE INDEX audit_at ON audit (at);

CREATE TABLE sequences (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
