-- Each insert writes its spans as one Compact part (all columns in one data file) instead of a
-- Wide one (a file pair per column and per Nullable / Array / Map / LowCardinality stream, ~290
-- files for this table): a batch of the collector (pipeline.batch_max_bytes, 16 MiB) is below
-- the threshold, so an insert creates ~80 files in all tables instead of ~360. Creating files
-- was the largest single cost of an insert on the local ClickHouse (a third of its CPU, in the
-- file system's inode allocation). Merges still write Wide parts once a part reaches 64 MiB
-- (uncompressed), so long-range reads see the usual column files. Applies to new parts.
ALTER TABLE spans MODIFY SETTING min_bytes_for_wide_part = 67108864;
