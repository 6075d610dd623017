-- fanout session store, schema 1 (SQLite).
--
-- Append-only: a run adds its row, its messages and its state changes; nothing a run wrote is
-- rewritten (only rename and delete, which the user asks for, change rows). Times are
-- nanoseconds since the Unix epoch; JSON is stored as text, verbatim.

-- A session: the user and agent of its first run, and the name it may be given.
CREATE TABLE fanout_sessions (
    session_id TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT,
    agent_id   TEXT,
    name       TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX fanout_sessions_user ON fanout_sessions (user_id);
CREATE INDEX fanout_sessions_agent ON fanout_sessions (agent_id);

-- A run: `run_order` numbers runs in the order they began, across sessions.
CREATE TABLE fanout_runs (
    run_order     INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id        TEXT NOT NULL UNIQUE,
    session_id    TEXT NOT NULL REFERENCES fanout_sessions (session_id) ON DELETE CASCADE,
    user_id       TEXT,
    agent_id      TEXT,
    parent_run_id TEXT,
    created_at    INTEGER NOT NULL
);
-- A session's runs in order: history, listing and counting read this index only.
CREATE INDEX fanout_runs_session ON fanout_runs (session_id, run_order);

-- A run's messages, numbered; a seq stored twice keeps the first.
CREATE TABLE fanout_messages (
    run_id         TEXT NOT NULL REFERENCES fanout_runs (run_id) ON DELETE CASCADE,
    seq            INTEGER NOT NULL,
    format_version INTEGER NOT NULL,
    body           TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

-- A run's states, one row per change; the newest (highest state_id) counts.
CREATE TABLE fanout_run_states (
    state_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id         TEXT NOT NULL REFERENCES fanout_runs (run_id) ON DELETE CASCADE,
    state          TEXT NOT NULL,
    format_version INTEGER NOT NULL,
    data           TEXT,
    created_at     INTEGER NOT NULL
);
CREATE INDEX fanout_run_states_run ON fanout_run_states (run_id, state_id);
