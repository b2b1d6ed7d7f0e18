"""The crawl stage: fetching the link set politely and safely, archiving raw responses as WARC."""
