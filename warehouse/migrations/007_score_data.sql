-- What each score was measured on: a hash of its examples or text files and of the settings that
-- choose them. Promotion gates compare two versions' scores only when it is equal. Rows written
-- before this column have none, and compare with nothing.
ALTER TABLE evaluations ADD COLUMN data_sha256 VARCHAR;
