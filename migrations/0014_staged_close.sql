-- A session whose every byte waits in its one staged object (no multipart parts yet) keeps
-- the digest of those bytes and the object's key, so that the close bringing no more bytes
-- (what docker and skopeo send after one PATCH) verifies, commits and forgets the session
-- in one D1 batch. NULL: the session closes the long way.
ALTER TABLE uploads ADD COLUMN staged_digest TEXT;
ALTER TABLE uploads ADD COLUMN staged_key TEXT;
