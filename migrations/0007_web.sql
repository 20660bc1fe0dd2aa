-- The web UI: each user's time zone for showing times (IANA name; UTC by default).
ALTER TABLE user_preferences ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
