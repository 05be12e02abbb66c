-- Post kinds are declared once, in bot/plan/kinds.py (issue 19), which refuses an undeclared
-- kind before it reaches the store. The table's own list of kinds goes, so a new kind (the
-- AMA's) is one declaration, not a table rebuild each time. SQLite cannot drop a CHECK in
-- place: the table is copied, every column and index as they were.

CREATE TABLE outbox_new (
    key               TEXT PRIMARY KEY,
    kind              TEXT NOT NULL,
    status            TEXT NOT NULL
                      CHECK (status IN ('pending', 'sending', 'sent', 'skipped', 'failed', 'cancelled')),
    due_at            INTEGER NOT NULL,
    next_attempt_at   INTEGER,
    deadline          INTEGER,
    event_start       INTEGER,
    channel_id        INTEGER NOT NULL,
    payload           TEXT NOT NULL,
    content_hash      TEXT NOT NULL,
    subject           TEXT NOT NULL DEFAULT '',
    attempts          INTEGER NOT NULL DEFAULT 0,
    last_error        TEXT,
    reason            TEXT,
    message_id        INTEGER,
    edit_pending      INTEGER NOT NULL DEFAULT 0,
    created_by        INTEGER,
    cancelled_by      INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    sent_at           INTEGER,
    extra             TEXT NOT NULL DEFAULT '{}',
    claimed_at        INTEGER,
    attempt_since     INTEGER,
    target_channel_id INTEGER,
    variants          TEXT NOT NULL DEFAULT '[]',
    unsure            INTEGER NOT NULL DEFAULT 0,
    publish_status    TEXT CHECK (publish_status IN ('pending', 'done', 'dropped', 'failed')),
    publish_next_at   INTEGER,
    publish_attempts  INTEGER NOT NULL DEFAULT 0,
    published_at      INTEGER,
    publish_reason    TEXT,
    edit_attempts     INTEGER NOT NULL DEFAULT 0,
    edit_next_at      INTEGER
);

INSERT INTO outbox_new SELECT * FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;

CREATE INDEX outbox_status_due ON outbox (status, due_at);
CREATE INDEX outbox_edit_pending ON outbox (edit_pending) WHERE edit_pending = 1;
CREATE INDEX outbox_publish ON outbox (publish_status, channel_id) WHERE publish_status IS NOT NULL;
CREATE INDEX outbox_message ON outbox (message_id) WHERE message_id IS NOT NULL;
