-- Cache-write input tokens (Anthropic's cache_creation_input_tokens, semconv 1.41
-- gen_ai.usage.cache_creation.input_tokens). Like cached_tokens (cache reads) they are counted
-- inside input_tokens — the collector adds them when a library reports input tokens without
-- the cached ones — and priced separately (the price table's cache_write).
ALTER TABLE spans ADD COLUMN IF NOT EXISTS cache_creation_tokens Nullable(UInt64) CODEC(ZSTD(1)) AFTER cached_tokens;
