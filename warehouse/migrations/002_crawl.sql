-- What the crawl learns about each URL, and where its raw response is archived.
ALTER TABLE urls ADD COLUMN final_url VARCHAR;     -- after redirects
ALTER TABLE urls ADD COLUMN content_type VARCHAR;  -- media type of the final response
ALTER TABLE urls ADD COLUMN charset VARCHAR;       -- header, then <meta>, then detection
ALTER TABLE urls ADD COLUMN warc_file VARCHAR;     -- relative to WEBTEXT_HOME/warc, or absolute
ALTER TABLE urls ADD COLUMN warc_offset BIGINT;    -- the final response record's gzip member
ALTER TABLE urls ADD COLUMN warc_length BIGINT;
