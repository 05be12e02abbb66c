-- Exactly once (issue 14): what a send put on the wire before it went, so a crash, an unclear
-- 5xx or a timeout is settled by looking in Discord's history; publishing and edits as their
-- own paced, backed-off steps; organiser alerts as outbox rows (kind 'alert'); the lease that
-- keeps one bot process per database.
-- Times are INTEGER microseconds since the Unix epoch, UTC, as in 0001.

CREATE TABLE outbox_new (
    key               TEXT PRIMARY KEY,
    kind              TEXT NOT NULL
                      CHECK (kind IN ('recap', 'reminder', 'announce', 'dm', 'alert')),
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
    -- delivery: when the current claim was taken (a sweep recovers claims older than a bound)
    claimed_at        INTEGER,
    -- the first send attempt: history is searched from here on
    attempt_since     INTEGER,
    -- where the attempts went (the member's DM channel for 'dm' rows)
    target_channel_id INTEGER,
    -- JSON list of the variants put on the wire ({"content", "embeds"}), recorded before each send
    variants          TEXT NOT NULL DEFAULT '[]',
    -- 1: an attempt may have reached Discord; look in history before sending again
    unsure            INTEGER NOT NULL DEFAULT 0,
    -- publishing (crosspost) in an announcement channel: NULL = not wanted
    publish_status    TEXT CHECK (publish_status IN ('pending', 'done', 'dropped', 'failed')),
    publish_next_at   INTEGER,
    publish_attempts  INTEGER NOT NULL DEFAULT 0,
    published_at      INTEGER,
    publish_reason    TEXT,
    -- edits of a sent message: back-off per post
    edit_attempts     INTEGER NOT NULL DEFAULT 0,
    edit_next_at      INTEGER
);

INSERT INTO outbox_new (key, kind, status, due_at, next_attempt_at, deadline, event_start,
                        channel_id, payload, content_hash, subject, attempts, last_error, reason,
                        message_id, edit_pending, created_by, cancelled_by, created_at,
                        updated_at, sent_at, extra, unsure)
SELECT key, kind, status, due_at, next_attempt_at, deadline, event_start, channel_id, payload,
       content_hash, subject, attempts, last_error, reason, message_id, edit_pending,
       created_by, cancelled_by, created_at, updated_at, sent_at, extra,
       -- a row an older version left in `sending` may have reached Discord
       CASE WHEN status = 'sending' THEN 1 ELSE 0 END
  FROM outbox;

DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;

CREATE INDEX outbox_status_due ON outbox (status, due_at);
CREATE INDEX outbox_edit_pending ON outbox (edit_pending) WHERE edit_pending = 1;
CREATE INDEX outbox_publish ON outbox (publish_status, channel_id) WHERE publish_status IS NOT NULL;
CREATE INDEX outbox_message ON outbox (message_id) WHERE message_id IS NOT NULL;

-- One holder per name ('amabot'): taken before anything touches the outbox, renewed while the
-- process runs, free for the next start once expired. A plain row with conditional writes, so
-- a shared database server (e.g. PostgreSQL) can hold it the same way later.
CREATE TABLE lease (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    acquired_at INTEGER NOT NULL,
    renewed_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
