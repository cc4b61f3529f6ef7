-- Access you can trust.

-- A package's id is unique per creation (a restored package gets a new one): edge-cache
-- keys, registry-token grants and version deletions name it, so nothing of one package
-- carries over to the next package of the same name.
ALTER TABLE packages ADD COLUMN id TEXT;
UPDATE packages SET id = lower(hex(randomblob(16))) WHERE id IS NULL;
-- The package a deleted version belongs to: it restores only into that package.
ALTER TABLE deletions ADD COLUMN package_id TEXT;

-- A suspended user's PATs and registry tokens stop working; unsuspending restores them.
ALTER TABLE accounts ADD COLUMN suspended_at INTEGER;

-- When a token was last used (written at most hourly per isolate), for the operator's listing.
ALTER TABLE tokens ADD COLUMN last_used_at INTEGER;
CREATE INDEX tokens_by_login ON tokens(login, created_at);

-- The roles a user holds, for offboarding.
CREATE INDEX package_roles_by_login ON package_roles(login, repository);
