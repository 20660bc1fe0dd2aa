-- Beacon: the board's runtime settings (one row; absent = the built-in defaults) and
-- the read-only display tokens of wall screens (only their SHA-256 is stored).

CREATE TABLE beacon_settings (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    urgent_minutes BIGINT NOT NULL,
    high_minutes BIGINT NOT NULL,
    medium_minutes BIGINT NOT NULL,
    low_minutes BIGINT NOT NULL,
    unknown_minutes BIGINT NOT NULL,
    fr_critical_minutes BIGINT NOT NULL,
    fr_warning_minutes BIGINT NOT NULL,
    alert_warning BIGINT NOT NULL,
    alert_danger BIGINT NOT NULL,
    alert_critical BIGINT NOT NULL,
    alert_emergency BIGINT NOT NULL,
    professional_services_group TEXT,
    -- Bumped by every change: part of the board cache's signature on every node.
    version BIGINT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT
);

CREATE TABLE beacon_display_tokens (
    id {PK},
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT,
    revoked_at TEXT,
    last_used_at TEXT
);
