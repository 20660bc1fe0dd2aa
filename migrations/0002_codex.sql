-- Codex master data. Row ids never change once assigned: Ledger and others key
-- overrides on them. Records that vanish upstream get `deleted_at`, never a DELETE.

CREATE TABLE companies (
    id {PK},
    account_number TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT,
    compliance_level TEXT NOT NULL DEFAULT 'standard',
    parent_company_id BIGINT REFERENCES companies(id),
    psa_provider TEXT,
    external_source TEXT,
    external_id TEXT,
    head_user_id TEXT,
    head_name TEXT,
    prime_user_id TEXT,
    prime_user_name TEXT,
    domains TEXT NOT NULL DEFAULT '[]',
    workspace_id BIGINT,
    billing_plan TEXT,
    contract_term TEXT,
    contract_term_length TEXT,
    contract_start_date TEXT,
    contract_end_date TEXT,
    support_level TEXT,
    managed_users TEXT,
    managed_devices TEXT,
    managed_network TEXT,
    profit_or_non_profit TEXT,
    company_main_number TEXT,
    address TEXT,
    company_start_date TEXT,
    phone_system TEXT,
    email_system TEXT,
    datto_portal_url TEXT,
    psa_created_at TEXT,
    psa_updated_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE UNIQUE INDEX companies_external ON companies(external_source, external_id);
CREATE INDEX companies_name ON companies(name);
CREATE INDEX companies_parent ON companies(parent_company_id);

CREATE TABLE contacts (
    id {PK},
    external_source TEXT,
    external_id TEXT,
    first_name TEXT,
    last_name TEXT,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    secondary_emails TEXT NOT NULL DEFAULT '[]',
    active BIGINT NOT NULL DEFAULT 1,
    is_agent BIGINT NOT NULL DEFAULT 0,
    vip_user BIGINT NOT NULL DEFAULT 0,
    has_logged_in BIGINT NOT NULL DEFAULT 0,
    mobile_phone_number TEXT,
    work_phone_number TEXT,
    address TEXT,
    job_title TEXT,
    employment_type TEXT NOT NULL DEFAULT 'Full Time',
    -- PSA department ids and names, JSON arrays of strings.
    department_ids TEXT NOT NULL DEFAULT '[]',
    department_names TEXT NOT NULL DEFAULT '[]',
    reporting_manager_id TEXT,
    location_id TEXT,
    location_name TEXT,
    work_schedule_id TEXT,
    can_see_all_tickets_from_associated_departments BIGINT NOT NULL DEFAULT 0,
    can_see_all_changes_from_associated_departments BIGINT NOT NULL DEFAULT 0,
    language TEXT NOT NULL DEFAULT 'en',
    time_zone TEXT,
    time_format TEXT,
    background_information TEXT,
    user_number TEXT,
    psa_created_at TEXT,
    psa_updated_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE UNIQUE INDEX contacts_external ON contacts(external_source, external_id);
CREATE INDEX contacts_name ON contacts(name);
-- E-mail is stored lower-cased by every write path, so the UNIQUE above is
-- case-insensitive in effect and lookups by e-mail use its index.

CREATE TABLE contact_companies (
    contact_id BIGINT NOT NULL REFERENCES contacts(id),
    company_id BIGINT NOT NULL REFERENCES companies(id),
    is_primary BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (contact_id, company_id)
);
CREATE INDEX contact_companies_company ON contact_companies(company_id);

CREATE TABLE assets (
    id {PK},
    company_id BIGINT NOT NULL REFERENCES companies(id),
    hostname TEXT NOT NULL,
    external_source TEXT,
    -- The RMM's own device id (Datto device uid): devices are matched on it, not on the
    -- hostname, so a rename keeps the row and everything keyed on it.
    external_id TEXT,
    description TEXT,
    hardware_type TEXT,
    device_type TEXT,
    operating_system TEXT,
    manufacturer TEXT,
    model TEXT,
    serial_number TEXT,
    last_logged_in_user TEXT,
    rmm_site_uid TEXT,
    rmm_site_name TEXT,
    antivirus_product TEXT,
    antivirus_status TEXT,
    ext_ip_address TEXT,
    int_ip_address TEXT,
    domain TEXT,
    last_audit_date TEXT,
    last_reboot TEXT,
    last_seen TEXT,
    online BIGINT NOT NULL DEFAULT 0,
    patch_status TEXT,
    backup_usage_bytes BIGINT,
    enabled_administrators TEXT,
    warranty_expires TEXT,
    portal_url TEXT,
    web_remote_url TEXT,
    -- Every RMM user-defined field the device carries, as a JSON object {"udf1": "…"}.
    udfs TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE UNIQUE INDEX assets_external ON assets(external_source, external_id);
CREATE INDEX assets_company ON assets(company_id);
CREATE INDEX assets_hostname ON assets(hostname);
-- The sync's fallback match for assets not yet linked to a device id.
CREATE INDEX assets_company_hostname ON assets(company_id, lower(hostname));
CREATE INDEX assets_site ON assets(rmm_site_uid);

CREATE TABLE asset_contacts (
    asset_id BIGINT NOT NULL REFERENCES assets(id),
    contact_id BIGINT NOT NULL REFERENCES contacts(id),
    PRIMARY KEY (asset_id, contact_id)
);
CREATE INDEX asset_contacts_contact ON asset_contacts(contact_id);

-- Additional company sites, entered by hand only (no sync), so really deleted.
CREATE TABLE locations (
    id {PK},
    company_id BIGINT NOT NULL REFERENCES companies(id),
    name TEXT NOT NULL,
    address TEXT,
    phone_number TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX locations_company ON locations(company_id, name);

CREATE TABLE rmm_site_links (
    id {PK},
    company_id BIGINT NOT NULL REFERENCES companies(id),
    rmm_provider TEXT NOT NULL,
    rmm_site_uid TEXT NOT NULL,
    rmm_site_name TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (rmm_provider, rmm_site_uid)
);
CREATE INDEX rmm_site_links_company ON rmm_site_links(company_id);

CREATE TABLE psa_agents (
    id {PK},
    external_source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    email TEXT,
    first_name TEXT,
    last_name TEXT,
    active BIGINT NOT NULL DEFAULT 1,
    job_title TEXT,
    group_ids TEXT NOT NULL DEFAULT '[]',
    department_ids TEXT NOT NULL DEFAULT '[]',
    psa_created_at TEXT,
    psa_updated_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT,
    UNIQUE (external_source, external_id)
);

CREATE TABLE tickets (
    id {PK},
    external_source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    ticket_number TEXT,
    company_id BIGINT REFERENCES companies(id),
    subject TEXT,
    description TEXT,
    description_text TEXT,
    status TEXT,
    status_id BIGINT,
    status_text TEXT,
    priority TEXT,
    priority_id BIGINT,
    ticket_type TEXT,
    source TEXT,
    category TEXT,
    requester_external_id TEXT,
    requester_email TEXT,
    requester_name TEXT,
    contact_id BIGINT REFERENCES contacts(id),
    responder_external_id TEXT,
    agent_id BIGINT REFERENCES psa_agents(id),
    group_external_id TEXT,
    group_name TEXT,
    department_external_id TEXT,
    created_at TEXT,
    last_updated_at TEXT,
    closed_at TEXT,
    resolved_at TEXT,
    fr_due_by TEXT,
    due_by TEXT,
    first_responded_at TEXT,
    agent_responded_at TEXT,
    -- Sum of the time entries, in minutes (hours are derived, never stored as floats).
    minutes_spent BIGINT NOT NULL DEFAULT 0,
    webhook_updated_at TEXT,
    synced_at TEXT,
    deleted_at TEXT,
    row_created_at TEXT NOT NULL,
    row_updated_at TEXT NOT NULL,
    UNIQUE (external_source, external_id)
);
CREATE INDEX tickets_company ON tickets(company_id, last_updated_at);
CREATE INDEX tickets_status ON tickets(status);
CREATE INDEX tickets_updated ON tickets(last_updated_at);
CREATE INDEX tickets_agent ON tickets(agent_id);
-- `/codex/api/ticket/{external id}` looks tickets up by PSA id without the source.
CREATE INDEX tickets_external_id ON tickets(external_id);
CREATE INDEX tickets_created ON tickets(created_at);
-- The default ticket list (live tickets, newest update first) walks this partial index
-- instead of sorting 100,000 rows (demo data: SQLite 3 ms instead of 220 ms, PostgreSQL
-- 1 ms instead of 300 ms); counts of live tickets read it alone. A partial index, because
-- PostgreSQL does not order by the columns after an `IS NULL` one.
CREATE INDEX tickets_live ON tickets(last_updated_at {DESC_NULLS_LAST}, id DESC) WHERE deleted_at IS NULL;

CREATE TABLE ticket_time_entries (
    id {PK},
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    external_id TEXT NOT NULL,
    agent_external_id TEXT,
    minutes BIGINT NOT NULL,
    billable BIGINT NOT NULL DEFAULT 1,
    note TEXT,
    -- When the work was done: Ledger bills time in the month it was logged.
    executed_at TEXT,
    created_at TEXT,
    updated_at TEXT,
    UNIQUE (ticket_id, external_id)
);
CREATE INDEX ticket_time_entries_executed ON ticket_time_entries(executed_at);

CREATE TABLE ticket_conversations (
    id {PK},
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    external_id TEXT NOT NULL,
    -- 'conversation' (public reply) or 'note' (private).
    kind TEXT NOT NULL,
    body TEXT,
    body_text TEXT,
    author_external_id TEXT,
    author_name TEXT,
    -- Set for notes written here (POST /codex/api/ticket/{id}/update): the local user.
    author_user_id BIGINT,
    from_email TEXT,
    incoming BIGINT NOT NULL DEFAULT 0,
    created_at TEXT,
    updated_at TEXT,
    UNIQUE (ticket_id, external_id)
);

CREATE TABLE billing_plans (
    id {PK},
    plan_name TEXT NOT NULL,
    term_length TEXT NOT NULL,
    support_level TEXT NOT NULL DEFAULT 'Billed Hourly',
    per_user_cost_cents BIGINT NOT NULL DEFAULT 0,
    per_workstation_cost_cents BIGINT NOT NULL DEFAULT 0,
    per_server_cost_cents BIGINT NOT NULL DEFAULT 0,
    per_vm_cost_cents BIGINT NOT NULL DEFAULT 0,
    per_switch_cost_cents BIGINT NOT NULL DEFAULT 0,
    per_firewall_cost_cents BIGINT NOT NULL DEFAULT 0,
    per_hour_ticket_cost_cents BIGINT NOT NULL DEFAULT 0,
    backup_base_fee_workstation_cents BIGINT NOT NULL DEFAULT 0,
    backup_base_fee_server_cents BIGINT NOT NULL DEFAULT 0,
    -- Terabytes in hundredths (1.00 TB = 100), same fixed-point idea as cents.
    backup_included_tb_centi BIGINT NOT NULL DEFAULT 100,
    backup_per_tb_fee_cents BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (plan_name, term_length)
);

CREATE TABLE plan_features (
    id {PK},
    plan_id BIGINT NOT NULL REFERENCES billing_plans(id) ON DELETE CASCADE,
    feature_type TEXT NOT NULL,
    feature_value TEXT NOT NULL,
    UNIQUE (plan_id, feature_type)
);

-- One column pair for options (peer/codex.md §8.4): the original's legacy names
-- (feature_type, display_name as the value) are mapped onto these on input.
CREATE TABLE feature_options (
    id {PK},
    feature_category TEXT NOT NULL,
    option_value TEXT NOT NULL,
    display_name TEXT,
    description TEXT,
    UNIQUE (feature_category, option_value)
);

CREATE TABLE feature_categories (
    feature_key TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    full_name TEXT,
    description TEXT
);

CREATE TABLE company_feature_overrides (
    id {PK},
    company_id BIGINT NOT NULL REFERENCES companies(id),
    feature_key TEXT NOT NULL,
    value TEXT NOT NULL,
    override_enabled BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (company_id, feature_key)
);

-- One row per user who saved preferences; users without one get these defaults.
CREATE TABLE user_preferences (
    user_id BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    theme TEXT NOT NULL DEFAULT 'light',
    color_theme TEXT NOT NULL DEFAULT 'purple',
    home_page TEXT NOT NULL DEFAULT 'beacon',
    knowledgetree_view TEXT NOT NULL DEFAULT 'grid',
    updated_at TEXT NOT NULL
);
