-- 0050_gateway_cors: the origins a project's browsers may call the key-based gateway routes from
-- (/v1/database/..., /v1/kv/...). origins is a JSON array of "scheme://host[:port]" strings, or
-- ["*"] for any origin. Changes bump platform_version so every process reloads its view.
CREATE TABLE platform_gateway_cors (
    project_id text PRIMARY KEY REFERENCES platform_projects(id) ON DELETE CASCADE,
    origins text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
