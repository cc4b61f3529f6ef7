-- The registry's metadata. Blob and manifest bytes live in R2 (see src/registry/keys.rs);
-- D1 holds what points at them. Digests are 'algorithm:hex' strings, times are
-- milliseconds since the Unix epoch.

-- Every repository that has had something pushed.
CREATE TABLE repositories (
  name       TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL
);

-- One R2 object per digest, shared by every repository that links it.
CREATE TABLE blobs (
  digest     TEXT PRIMARY KEY,
  object_key TEXT NOT NULL,
  size       INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);

-- A blob is visible in a repository only through a link.
CREATE TABLE repository_blobs (
  repository TEXT NOT NULL,
  digest     TEXT NOT NULL REFERENCES blobs(digest),
  linked_at  INTEGER NOT NULL,
  PRIMARY KEY (repository, digest)
);

-- Manifests by digest; their bytes are in R2 under manifests/<alg>/<hex>.
CREATE TABLE manifests (
  digest        TEXT PRIMARY KEY,
  media_type    TEXT NOT NULL,
  size          INTEGER NOT NULL,
  artifact_type TEXT,
  subject       TEXT,
  annotations   TEXT,
  created_at    INTEGER NOT NULL
);
CREATE INDEX manifests_by_subject ON manifests(subject) WHERE subject IS NOT NULL;

-- What a manifest needs: blobs of an image, child manifests of an index (for collection).
CREATE TABLE manifest_references (
  manifest TEXT NOT NULL,
  child    TEXT NOT NULL,
  PRIMARY KEY (manifest, child)
);

CREATE TABLE repository_manifests (
  repository TEXT NOT NULL,
  digest     TEXT NOT NULL REFERENCES manifests(digest),
  pushed_at  INTEGER NOT NULL,
  PRIMARY KEY (repository, digest)
);

CREATE TABLE tags (
  repository TEXT NOT NULL,
  tag        TEXT NOT NULL,
  digest     TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (repository, tag)
);
CREATE INDEX tags_by_digest ON tags(repository, digest);

-- Uploads in progress. hash_state is the base64 of the saved incremental digest;
-- parts is a JSON array of {number, etag}.
CREATE TABLE uploads (
  id           TEXT PRIMARY KEY,
  repository   TEXT NOT NULL,
  object_key   TEXT NOT NULL,
  multipart_id TEXT,
  parts        TEXT NOT NULL,
  received     INTEGER NOT NULL,
  tail_len     INTEGER NOT NULL,
  hash_state   TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL
);
CREATE INDEX uploads_by_age ON uploads(updated_at);
