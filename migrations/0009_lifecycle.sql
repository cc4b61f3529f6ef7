-- Lifecycle: retention policies, immutable tags, download counts, webhooks.

-- Rules set on a package (scope = its name) or on a namespace (scope = the login, whose
-- retention policy is the default of its packages). JSON: `retention` is a policy
-- (src/lifecycle/retention.rs), `immutable_tags` a list of tag patterns.
CREATE TABLE lifecycle_rules (
  scope          TEXT PRIMARY KEY,
  retention      TEXT,
  immutable_tags TEXT,
  updated_at     INTEGER NOT NULL
);

-- Where a scheduled job stopped, so the next run goes on from there.
CREATE TABLE maintenance_cursors (
  job   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- Manifest GETs per repository, version and day (days since the Unix epoch), written in
-- batches after the pulls they count.
CREATE TABLE downloads (
  repository TEXT NOT NULL,
  digest     TEXT NOT NULL,
  day        INTEGER NOT NULL,
  count      INTEGER NOT NULL,
  PRIMARY KEY (repository, digest, day)
);

-- Webhooks of a package (scope = its name) or a namespace (scope = the login). The secret
-- signs deliveries, so it is kept as given; it is never shown again nor logged.
CREATE TABLE webhooks (
  id         TEXT PRIMARY KEY,
  scope      TEXT NOT NULL,
  url        TEXT NOT NULL,
  secret     TEXT NOT NULL,
  events     TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL
);
CREATE INDEX webhooks_by_scope ON webhooks(scope);

-- One event for one webhook; `state` is pending until delivered or out of attempts.
CREATE TABLE webhook_deliveries (
  id              TEXT PRIMARY KEY,
  hook            TEXT NOT NULL,
  event           TEXT NOT NULL,
  payload         TEXT NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts        INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  last_status     INTEGER,
  last_error      TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries(hook, created_at);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_attempt_at);
