-- A conversation merged into another keeps only this pointer (its messages moved).
ALTER TABLE conversations ADD COLUMN merged_into BLOB;
