-- The usage log: what a check was about (target) and which node answered it; how often each key
-- was used successfully.
ALTER TABLE logs ADD COLUMN target TEXT;
ALTER TABLE logs ADD COLUMN node TEXT;
ALTER TABLE api_keys ADD COLUMN use_count INTEGER NOT NULL DEFAULT 0;
-- Retention prunes usage records by time, oldest first.
CREATE INDEX logs_usage_by_time ON logs (time) WHERE kind = 'usage';
