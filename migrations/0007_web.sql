-- The web UI: each user's time zone for showing times (IANA name; UTC by default).
ALTER TABLE user_preferences ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
-- The global search finds tickets by their number (as the PSA shows it, any case).
CREATE INDEX tickets_number ON tickets(upper(ticket_number));
-- The assets page lists by hostname (case-insensitive): read in index order, not sorted.
CREATE INDEX assets_hostname_lower ON assets(lower(hostname), id);
