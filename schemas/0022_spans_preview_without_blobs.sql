-- Previews without inline binary data: a multimodal message part (semconv `blob` parts, data
-- URLs, base64 images and audio) stays in `input` / `output` as sent, but its payload — any
-- base64 run of 200+ characters — is shown as `…` in the 256-character previews, so they
-- keep showing the text. Applies to rows inserted from now on.
ALTER TABLE spans MODIFY COLUMN input_preview String MATERIALIZED substringUTF8(replaceRegexpAll(input, '[A-Za-z0-9+/=_-]{200,}', '…'), 1, 256) CODEC(ZSTD(1));
ALTER TABLE spans MODIFY COLUMN output_preview String MATERIALIZED substringUTF8(replaceRegexpAll(output, '[A-Za-z0-9+/=_-]{200,}', '…'), 1, 256) CODEC(ZSTD(1));
