-- The AMA (issue 21): one session per episode's AMA of a series, its questions, the members
-- behind each question (asker and those merged in), votes, and every move as a log row.
-- Moves are guarded updates (WHERE state IN (...)), so a double click does one thing.
-- Times are INTEGER microseconds since the Unix epoch, UTC, as in 0001.

CREATE TABLE ama_sessions (
    id               INTEGER PRIMARY KEY,
    series           TEXT NOT NULL,
    episode_id       TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN
                     ('scheduled', 'collecting', 'live', 'closed', 'published', 'cancelled')),
    title            TEXT NOT NULL,
    timezone         TEXT NOT NULL,
    guests           TEXT NOT NULL DEFAULT '[]',
    opens_at         INTEGER NOT NULL,
    starts_at        INTEGER NOT NULL,
    ends_at          INTEGER NOT NULL,
    closes_at        INTEGER NOT NULL,
    live_started_at  INTEGER,
    closed_at        INTEGER,
    thread_id        INTEGER,
    board_thread_id  INTEGER,
    record_sha       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (series, episode_id)
);

CREATE TABLE ama_questions (
    id            INTEGER PRIMARY KEY,
    session_id    INTEGER NOT NULL REFERENCES ama_sessions (id),
    author_id     INTEGER NOT NULL,
    author_name   TEXT NOT NULL,
    anonymous     INTEGER NOT NULL DEFAULT 0,
    notify        INTEGER NOT NULL DEFAULT 1,
    text          TEXT NOT NULL,
    phase         TEXT NOT NULL CHECK (phase IN ('before', 'live', 'after')),
    state         TEXT NOT NULL CHECK (state IN ('pending', 'held', 'approved', 'on_air',
                  'answered', 'skipped', 'not_reached', 'denied', 'merged', 'withdrawn')),
    canonical_id  INTEGER REFERENCES ama_questions (id),
    umbrella      INTEGER NOT NULL DEFAULT 0,
    edits         INTEGER NOT NULL DEFAULT 0,
    notes         TEXT NOT NULL DEFAULT '',
    deny_reason   TEXT,
    tell_asker    INTEGER NOT NULL DEFAULT 0,
    decided_by    INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    on_air_at     INTEGER,
    answered_at   INTEGER
);
CREATE INDEX ama_questions_by_session ON ama_questions (session_id, state);
CREATE INDEX ama_questions_by_author ON ama_questions (session_id, author_id);

-- The members behind a question besides its author: those whose questions were merged into
-- it (a chain of merges lands here too). Votes are kept apart: a vote can be taken back.
CREATE TABLE ama_askers (
    question_id  INTEGER NOT NULL REFERENCES ama_questions (id),
    member_id    INTEGER NOT NULL,
    name         TEXT NOT NULL,
    from_id      INTEGER NOT NULL,
    at           INTEGER NOT NULL,
    PRIMARY KEY (question_id, member_id)
);

CREATE TABLE ama_votes (
    question_id  INTEGER NOT NULL REFERENCES ama_questions (id),
    member_id    INTEGER NOT NULL,
    at           INTEGER NOT NULL,
    PRIMARY KEY (question_id, member_id)
);

CREATE TABLE ama_log (
    id           INTEGER PRIMARY KEY,
    session_id   INTEGER NOT NULL,
    question_id  INTEGER,
    actor_id     INTEGER,
    move         TEXT NOT NULL,
    from_state   TEXT,
    to_state     TEXT,
    at           INTEGER NOT NULL,
    detail       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ama_log_by_question ON ama_log (question_id, id);
