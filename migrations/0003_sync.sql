-- Sync: durable jobs, the one-runner-per-(provider, kind) lock shared by every app node,
-- resume checkpoints and high-water marks, the ids seen by an unfinished listing, and
-- schedules.

CREATE TABLE sync_jobs (
    id {PK},
    provider TEXT NOT NULL,
    -- base, tickets, tickets_light, rmm, push_account_numbers
    kind TEXT NOT NULL,
    -- manual, schedule, webhook, cli, demo
    triggered_by TEXT NOT NULL,
    full_sync BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    requested_by TEXT,
    node_id TEXT,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    -- JSON: per collection {seen, created, updated, unchanged, missing, failed}.
    progress TEXT NOT NULL DEFAULT '{}',
    requests BIGINT NOT NULL DEFAULT 0,
    throttled BIGINT NOT NULL DEFAULT 0,
    retries BIGINT NOT NULL DEFAULT 0,
    output TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    heartbeat_at TEXT,
    finished_at TEXT
);
CREATE INDEX sync_jobs_recent ON sync_jobs(provider, kind, id);
CREATE INDEX sync_jobs_status ON sync_jobs(status, id);

-- At most one row per (provider, kind): the primary key is the lock across all nodes.
CREATE TABLE sync_locks (
    provider TEXT NOT NULL,
    kind TEXT NOT NULL,
    job_id BIGINT NOT NULL,
    node_id TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    PRIMARY KEY (provider, kind)
);

-- Named resume state of a (provider, kind): a listing's next cursor, a high-water mark.
CREATE TABLE sync_checkpoints (
    provider TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (provider, kind, name)
);

-- External ids seen by a listing that has not finished yet. Kept across a crash so a
-- resumed listing still knows the first pages' records when it marks the missing ones.
CREATE TABLE sync_seen (
    provider TEXT NOT NULL,
    collection TEXT NOT NULL,
    external_id TEXT NOT NULL,
    PRIMARY KEY (provider, collection, external_id)
);

CREATE TABLE sync_schedules (
    provider TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- Standard five-field cron expression, evaluated in UTC.
    cron TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    last_enqueued_at TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (provider, kind)
);
