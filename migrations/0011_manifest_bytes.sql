-- A small manifest's bytes live with its record too (they stay in R2 as well), so a pull
-- reads a manifest, by tag or by digest, in one D1 query and no R2 operation. Manifests
-- are JSON, hence UTF-8 text kept byte for byte. NULL: read them from R2.
ALTER TABLE manifests ADD COLUMN body TEXT;
