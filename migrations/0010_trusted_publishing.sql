-- Trusted publishing: CI jobs that packages trust, identity tokens already exchanged,
-- the source repository a package is connected to, and who pushed each version.
-- Times are milliseconds since the Unix epoch.

-- A trust policy on one package (`repository` set) or on every package of a namespace
-- (`repository` NULL; such a policy may also create packages there).
CREATE TABLE trusted_publishers (
  id                  TEXT PRIMARY KEY,
  namespace           TEXT NOT NULL,
  repository          TEXT,
  issuer              TEXT NOT NULL,
  source_repository   TEXT NOT NULL,
  repository_owner_id TEXT,
  workflow            TEXT NOT NULL,
  environment         TEXT,
  git_ref             TEXT,
  actions             TEXT NOT NULL,
  created_at          INTEGER NOT NULL,
  created_by          TEXT NOT NULL
);
CREATE INDEX trusted_publishers_by_scope ON trusted_publishers(namespace, repository);
CREATE INDEX trusted_publishers_by_source ON trusted_publishers(issuer, lower(source_repository));

-- Identity tokens exchanged at POST /api/oidc/token: each `jti` once, kept until the
-- token expires, so a replay in any isolate is refused.
CREATE TABLE oidc_exchanges (
  issuer     TEXT NOT NULL,
  jti        TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (issuer, jti)
);
CREATE INDEX oidc_exchanges_by_expiry ON oidc_exchanges(expires_at);

-- The source repository a package is connected to: from the
-- org.opencontainers.image.source of a pushed version, unless set through the API
-- (`explicit` = 1), which pushes then do not change.
CREATE TABLE package_sources (
  repository TEXT PRIMARY KEY,
  source     TEXT NOT NULL,
  explicit   INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL
);

-- Who pushed a version (JSON: a login and token id, or a CI identity).
CREATE TABLE version_provenance (
  repository TEXT NOT NULL,
  digest     TEXT NOT NULL,
  provenance TEXT NOT NULL,
  pushed_at  INTEGER NOT NULL,
  PRIMARY KEY (repository, digest)
);
