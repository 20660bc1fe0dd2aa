-- Provider settings an admin entered over the API. Each row overlays the matching
-- `[psa.<provider>]` / `[rmm.<provider>]` table of hivematrix.toml key by key.
-- `settings_json` holds secrets too (as the TOML file does); no endpoint returns them.
CREATE TABLE sync_provider_settings (
    id {PK},
    side TEXT NOT NULL,
    provider TEXT NOT NULL,
    settings_json TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT,
    UNIQUE (side, provider)
);
