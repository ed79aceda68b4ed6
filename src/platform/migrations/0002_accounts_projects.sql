-- 0002_accounts_projects: setup, instance admins, projects, members, project keys, personal access
-- tokens. User ids are bun-auth's, stored as text (no foreign key across services).
-- platform_version is bumped in every transaction that changes keys, tokens or members: each
-- process polls it and reloads its in-memory view (src/platform/platform_cache.c).
CREATE TABLE platform_version (
    id int PRIMARY KEY CHECK (id = 1),
    v bigint NOT NULL
);
INSERT INTO platform_version(id, v) VALUES (1, 0);

-- Self-hosted setup: one row, ever (the primary key makes a second setup impossible).
CREATE TABLE platform_setup (
    id int PRIMARY KEY CHECK (id = 1),
    user_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE platform_instance_admins (
    user_id text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE platform_projects (
    id text PRIMARY KEY,
    name text NOT NULL,
    slug text NOT NULL UNIQUE,
    owner_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX platform_projects_owner ON platform_projects(owner_id);

CREATE TABLE platform_members (
    project_id text NOT NULL REFERENCES platform_projects(id) ON DELETE CASCADE,
    user_id text NOT NULL,
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX platform_members_user ON platform_members(user_id);

CREATE TABLE platform_keys (
    id text PRIMARY KEY,
    project_id text NOT NULL REFERENCES platform_projects(id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('pk', 'sk')),
    prefix text NOT NULL,
    key_hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX platform_keys_project ON platform_keys(project_id);

CREATE TABLE platform_tokens (
    id text PRIMARY KEY,
    user_id text NOT NULL,
    name text NOT NULL,
    prefix text NOT NULL,
    token_hash text NOT NULL UNIQUE,
    scopes bigint NOT NULL,
    expires_at timestamptz,
    last_used_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX platform_tokens_user ON platform_tokens(user_id);
