-- bun-auth: developer accounts, sessions, refresh tokens, published signing keys.
-- Emails are stored normalized (trimmed, lower-cased) and unique case-insensitively.
CREATE TABLE bun_auth_users (
    id text PRIMARY KEY,
    email text NOT NULL,
    password_hash text NOT NULL,
    name text NOT NULL DEFAULT '',
    email_verified boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX bun_auth_users_email_key ON bun_auth_users (lower(email));

-- One row per login. token_hash: SHA-256 of the dashboard session token (never the token).
CREATE TABLE bun_auth_sessions (
    id text PRIMARY KEY,
    user_id text NOT NULL REFERENCES bun_auth_users (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    revoked_reason text,
    ip text NOT NULL DEFAULT '',
    user_agent text NOT NULL DEFAULT ''
);
CREATE INDEX bun_auth_sessions_user ON bun_auth_sessions (user_id, created_at DESC);
CREATE INDEX bun_auth_sessions_expires ON bun_auth_sessions (expires_at);

-- Refresh tokens of a session (its "family"): SHA-256 of the token, single use. A used one
-- presented again revokes the session.
CREATE TABLE bun_auth_refresh_tokens (
    token_hash bytea PRIMARY KEY,
    session_id text NOT NULL REFERENCES bun_auth_sessions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX bun_auth_refresh_tokens_session ON bun_auth_refresh_tokens (session_id);

-- Public halves of the signing keys (Ed25519, base64url), so every bunbased on this database
-- verifies tokens signed by any of them. retired_at: when it stopped signing (grace starts).
CREATE TABLE bun_auth_keys (
    kid text PRIMARY KEY,
    public_key text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz
);
