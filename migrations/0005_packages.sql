-- Package pages and deletions.

-- What the package page shows of a version (JSON: total size, platforms, created,
-- source/description/licenses), worked out when the manifest is pushed.
ALTER TABLE manifests ADD COLUMN details TEXT;

CREATE INDEX repository_manifests_by_push ON repository_manifests(repository, pushed_at);

-- Deleted packages and versions, restorable for 30 days. Their rows in repositories,
-- repository_blobs, repository_manifests and tags are moved under `holder` (a name no
-- client can use), so they are out of sight but still keep their blobs from collection.
CREATE TABLE deletions (
  id         TEXT PRIMARY KEY,
  repository TEXT NOT NULL,
  version    TEXT,
  holder     TEXT NOT NULL,
  package    TEXT,
  deleted_at INTEGER NOT NULL,
  deleted_by TEXT NOT NULL
);
CREATE INDEX deletions_by_repository ON deletions(repository, deleted_at);
CREATE INDEX deletions_by_age ON deletions(deleted_at);

-- A package may ask that its untagged manifests (ones no tag, index or subject keeps)
-- be collected once they are older than the grace period.
ALTER TABLE packages ADD COLUMN collect_untagged INTEGER NOT NULL DEFAULT 0;

-- Bumped by every deletion in a package: edge-cache keys include it, so deleted content
-- stops being served from caches as soon as the new epoch is seen.
ALTER TABLE packages ADD COLUMN content_epoch INTEGER NOT NULL DEFAULT 0;
