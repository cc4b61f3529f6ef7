-- Identity and access: accounts (users and organizations share one namespace of
-- logins), organization members, personal access tokens, packages and their roles.
-- Times are milliseconds since the Unix epoch.

CREATE TABLE accounts (
  login      TEXT PRIMARY KEY,
  kind       TEXT NOT NULL CHECK (kind IN ('user', 'org')),
  created_at INTEGER NOT NULL
);

CREATE TABLE org_members (
  org   TEXT NOT NULL,
  login TEXT NOT NULL,
  role  TEXT NOT NULL CHECK (role IN ('member', 'owner')),
  PRIMARY KEY (org, login)
);

-- Only the SHA-256 of a token is stored (hex); the token is shown once, at creation.
CREATE TABLE tokens (
  id         TEXT PRIMARY KEY,
  login      TEXT NOT NULL,
  hash       TEXT NOT NULL,
  scopes     TEXT NOT NULL,
  note       TEXT,
  expires_at INTEGER,
  revoked_at INTEGER,
  created_at INTEGER NOT NULL
);

-- A package is a repository; it is created private by its first push.
CREATE TABLE packages (
  repository TEXT PRIMARY KEY,
  visibility TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL
);

CREATE TABLE package_roles (
  repository TEXT NOT NULL,
  login      TEXT NOT NULL,
  role       TEXT NOT NULL CHECK (role IN ('read', 'write', 'admin')),
  PRIMARY KEY (repository, login)
);
