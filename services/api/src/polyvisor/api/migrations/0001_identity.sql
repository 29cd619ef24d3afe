-- Identity: projects, users, role assignments, API keys.

CREATE TABLE projects (
    id          text PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    description text NOT NULL DEFAULT '',
    enabled     boolean NOT NULL DEFAULT true,
    create_time timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id                 text PRIMARY KEY,
    name               text NOT NULL UNIQUE,
    email              text NOT NULL DEFAULT '',
    default_project_id text REFERENCES projects (id) ON DELETE SET NULL,
    enabled            boolean NOT NULL DEFAULT true,
    -- argon2id hash; NULL: the user can only use API keys.
    password_hash      text,
    create_time        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE role_assignments (
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('admin', 'member', 'reader')),
    PRIMARY KEY (user_id, project_id, role)
);
CREATE INDEX role_assignments_project ON role_assignments (project_id);

CREATE TABLE api_keys (
    id             text PRIMARY KEY,
    name           text NOT NULL,
    user_id        text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id     text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    prefix         text NOT NULL,
    -- SHA-256 of the secret (the secret itself is shown once and never stored).
    secret_digest  text NOT NULL UNIQUE,
    -- 'service': tokens from this key are service tokens (agents).
    kind           text NOT NULL DEFAULT 'user' CHECK (kind IN ('user', 'service')),
    create_time    timestamptz NOT NULL DEFAULT now(),
    expire_time    timestamptz,
    last_used_time timestamptz
);
CREATE INDEX api_keys_user ON api_keys (user_id, id);

-- One-time start-up actions already done (bootstrap admin, agent key).
CREATE TABLE bootstrap_done (
    name      text PRIMARY KEY,
    done_time timestamptz NOT NULL DEFAULT now()
);
