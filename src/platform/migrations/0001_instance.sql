-- 0001_instance: the platform's identity. One row: the instance id, generated on first start.
CREATE TABLE instance (
    id text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);
