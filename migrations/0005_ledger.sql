-- Ledger: billing overrides (keyed by stable Codex ids), the editable asset
-- classification table, settings, append-only bill snapshots with their voids, and
-- durable bulk-acceptance jobs. Money and other two-decimal amounts (hours, TB) are
-- integer hundredths.

-- One row per company. A NULL value means "not overridden": the plan's value applies.
CREATE TABLE ledger_client_overrides (
    company_id BIGINT PRIMARY KEY,
    billing_plan TEXT,
    contract_term TEXT,
    support_level TEXT,
    per_user_cost BIGINT,
    per_workstation_cost BIGINT,
    per_server_cost BIGINT,
    per_vm_cost BIGINT,
    per_switch_cost BIGINT,
    per_firewall_cost BIGINT,
    per_hour_ticket_cost BIGINT,
    backup_base_fee_workstation BIGINT,
    backup_base_fee_server BIGINT,
    backup_included_tb BIGINT,
    backup_per_tb_fee BIGINT,
    prepaid_hours_monthly BIGINT,
    prepaid_hours_yearly BIGINT,
    updated_at TEXT NOT NULL,
    updated_by TEXT
);

-- Per Codex asset / contact. company_id is the company the record belonged to when the
-- override was written, so an override whose asset moved or vanished is reported.
CREATE TABLE ledger_asset_overrides (
    asset_id BIGINT PRIMARY KEY,
    company_id BIGINT NOT NULL,
    billing_type TEXT NOT NULL,
    custom_cost BIGINT,
    updated_at TEXT NOT NULL,
    updated_by TEXT
);
CREATE INDEX ledger_asset_overrides_company ON ledger_asset_overrides(company_id);

CREATE TABLE ledger_user_overrides (
    contact_id BIGINT PRIMARY KEY,
    company_id BIGINT NOT NULL,
    billing_type TEXT NOT NULL,
    custom_cost BIGINT,
    updated_at TEXT NOT NULL,
    updated_by TEXT
);
CREATE INDEX ledger_user_overrides_company ON ledger_user_overrides(company_id);

CREATE TABLE ledger_manual_assets (
    id {PK},
    company_id BIGINT NOT NULL,
    hostname TEXT NOT NULL,
    billing_type TEXT NOT NULL,
    custom_cost BIGINT,
    notes TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX ledger_manual_assets_company ON ledger_manual_assets(company_id, id);

CREATE TABLE ledger_manual_users (
    id {PK},
    company_id BIGINT NOT NULL,
    full_name TEXT NOT NULL,
    billing_type TEXT NOT NULL,
    custom_cost BIGINT,
    notes TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX ledger_manual_users_company ON ledger_manual_users(company_id, id);

-- One fee per item: cadence monthly (every month), one_off (bill_year + bill_month) or
-- yearly (bill_month every year).
CREATE TABLE ledger_line_items (
    id {PK},
    company_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    cadence TEXT NOT NULL CHECK (cadence IN ('monthly', 'one_off', 'yearly')),
    fee BIGINT NOT NULL,
    bill_year BIGINT,
    bill_month BIGINT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX ledger_line_items_company ON ledger_line_items(company_id, id);

-- The classification table, in order (first match wins).
CREATE TABLE ledger_class_rules (
    position BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT,
    rmm_type TEXT,
    os TEXT,
    hostname TEXT,
    class TEXT NOT NULL
);

-- Key/value settings (user rule, schedule, whether the default rules were seeded).
CREATE TABLE ledger_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Append-only. No code path updates or deletes a row; a voided bill gets a row in
-- ledger_snapshot_voids and a re-issue is a new revision of the same invoice number.
CREATE TABLE ledger_snapshots (
    id {PK},
    company_id BIGINT NOT NULL,
    company_account_number TEXT NOT NULL,
    company_name TEXT NOT NULL,
    invoice_number TEXT NOT NULL,
    revision BIGINT NOT NULL,
    billing_year BIGINT NOT NULL,
    billing_month BIGINT NOT NULL,
    invoice_date TEXT NOT NULL,
    due_date TEXT NOT NULL,
    billing_plan TEXT,
    contract_term TEXT,
    support_level TEXT,
    total_amount BIGINT NOT NULL,
    total_user_charges BIGINT NOT NULL,
    total_asset_charges BIGINT NOT NULL,
    total_backup_charges BIGINT NOT NULL,
    total_ticket_charges BIGINT NOT NULL,
    total_line_item_charges BIGINT NOT NULL,
    user_count BIGINT NOT NULL,
    asset_count BIGINT NOT NULL,
    billable_hours BIGINT NOT NULL,
    inputs_json TEXT NOT NULL,
    bill_json TEXT NOT NULL,
    invoice_csv TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    notes TEXT,
    job_id BIGINT,
    UNIQUE (invoice_number, revision)
);
CREATE INDEX ledger_snapshots_company ON ledger_snapshots(company_account_number, billing_year, billing_month);
CREATE INDEX ledger_snapshots_period ON ledger_snapshots(billing_year, billing_month);
CREATE INDEX ledger_snapshots_created ON ledger_snapshots(created_at);

CREATE TABLE ledger_snapshot_voids (
    snapshot_id BIGINT PRIMARY KEY REFERENCES ledger_snapshots(id),
    reason TEXT NOT NULL,
    voided_by TEXT NOT NULL,
    voided_at TEXT NOT NULL
);

-- Bulk acceptance of a month: one durable row per run with per-company results.
CREATE TABLE ledger_jobs (
    id {PK},
    triggered_by TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    billing_year BIGINT NOT NULL,
    billing_month BIGINT NOT NULL,
    -- JSON array of account numbers, NULL = every company.
    account_numbers TEXT,
    requested_by TEXT,
    node_id TEXT,
    total_companies BIGINT NOT NULL DEFAULT 0,
    accepted BIGINT NOT NULL DEFAULT 0,
    skipped BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    -- JSON array of {account_number, status, invoice_number?, snapshot_id?, message?}.
    results TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    heartbeat_at TEXT,
    finished_at TEXT
);
CREATE INDEX ledger_jobs_status ON ledger_jobs(status, id);
