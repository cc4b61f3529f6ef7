-- Garbage collection asks which blobs nothing links or needs; these make that cheap.
CREATE INDEX repository_blobs_by_digest ON repository_blobs(digest);
CREATE INDEX manifest_references_by_child ON manifest_references(child);
CREATE INDEX blobs_by_age ON blobs(created_at);
