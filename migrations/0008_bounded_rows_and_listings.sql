-- Bounded manifest rows, and the indexes listings use.

-- Manifest rows stay small whatever the manifest: annotations over 16 KiB are not copied
-- into `annotations` but read from the manifest's stored bytes when a referrers listing
-- needs them (a manifest may be 4 MiB of annotations; a D1 row holds at most 2 MB).
ALTER TABLE manifests ADD COLUMN annotations_elsewhere INTEGER NOT NULL DEFAULT 0;

-- The front page lists public packages newest first.
CREATE INDEX packages_public_by_age ON packages(visibility, created_at);
