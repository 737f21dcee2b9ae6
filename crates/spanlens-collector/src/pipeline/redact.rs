//! Credentials are never stored. Every row passes here when it is encoded for the pipeline
//! ([`super::EncodedChunk::encode`]), whichever receiver produced it, so one place strips:
//! - values of map entries whose key names a credential (`authorization`, `*secret_key*`,
//!   `*secretKey*`, `*api_key*`, `*password*`, ...);
//! - inside any stored text (input, output, attribute values, log bodies, comments): Langfuse
//!   secret keys (`sk-lf-…`), JSON members named like a credential (the Langfuse JS SDK v3 copies
//!   its `clientInitParams.secretKey` into trace metadata), and `Authorization: Bearer|Basic …`
//!   values.
//!
//! Each is replaced by `[REDACTED]`. Rows are checked in their encoded form first: one literal
//! scan over the row's RowBinary bytes ([`may_hold_credentials`]), where every stored text
//! lies verbatim, clears almost every row at once. Only a row that contains one of the words
//! is checked field by field (a literal scan again sends only text that may hold an inline
//! credential to the regex), and only a row with something to strip is copied and re-encoded.

use std::borrow::Cow;
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use regex::{Captures, Regex};

use crate::storage::row::{
    AttrMap, ExponentialHistogramRow, GaugeRow, HistogramRow, LogRow, ScoreRow, SpanRow, SumRow,
    SummaryRow,
};

pub const REDACTED: &str = "[REDACTED]";

/// A row whose stored text can be checked for credentials and stripped of them.
pub trait Redact: Clone {
    /// The row with credentials replaced, or None when it has none.
    fn redacted(&self) -> Option<Self>;
}

/// How a Langfuse secret key starts.
const LANGFUSE_SECRET_KEY_PREFIX: &str = "sk-lf-";

/// Words, lowercase, that come with every inline credential this module strips.
const HINT_WORDS: [&str; 7] = [
    LANGFUSE_SECRET_KEY_PREFIX,
    "secret",
    "apikey",
    "api_key",
    "api-key",
    "password",
    "authoriz",
];

/// [`HINT_WORDS`] plus the words a whole-value credential starts with. All are five bytes or
/// longer, so the packed searcher compares long fingerprints and rarely stops on ordinary text.
fn row_hint() -> &'static aho_corasick::packed::Searcher {
    static S: OnceLock<aho_corasick::packed::Searcher> = OnceLock::new();
    S.get_or_init(|| {
        aho_corasick::packed::Config::new()
            .builder()
            .extend(HINT_WORDS.iter().chain(&["bearer", "basic"]))
            .build()
            .expect("a packed searcher for a few short literals")
    })
}

/// The two non-ASCII characters that fold to ASCII letters under the regexes'
/// case-insensitivity (KELVIN SIGN to `k`, LONG S to `s`): text holding one may spell a word
/// that its lowercased bytes do not show. One packed search finds either.
fn holds_folding_letter(text: &[u8]) -> bool {
    static S: OnceLock<aho_corasick::packed::Searcher> = OnceLock::new();
    S.get_or_init(|| {
        aho_corasick::packed::Config::new()
            .builder()
            .extend(["\u{212A}", "\u{17F}"])
            .build()
            .expect("a packed searcher for two letters")
    })
    .find(text)
    .is_some()
}

/// Whether a row, given as its encoded bytes, may hold anything [`Redact::redacted`] strips
/// (false: certainly not). Every text field is in the bytes as it is, so a word in any field
/// is found; a hit across a field boundary only costs the field-by-field check. `lowered` is
/// scratch space: a case-sensitive search of a lowercased copy is a fast SIMD scan, where a
/// case-insensitive one over the original has too many variants to be.
pub fn may_hold_credentials(encoded_row: &[u8], lowered: &mut Vec<u8>) -> bool {
    lowered.clear();
    lowered.extend(encoded_row.iter().map(u8::to_ascii_lowercase));
    row_hint().find(lowered.as_slice()).is_some() || holds_folding_letter(encoded_row)
}

const AUTHORIZATION: &str = "authorization";

/// What a map key or a JSON member name holds when it names a credential.
const SECRET_KEY_WORDS: [&str; 8] = [
    AUTHORIZATION,
    "secretkey",
    "secret_key",
    "secret-key",
    "apikey",
    "api_key",
    "api-key",
    "password",
];

/// Map keys are short and checked one by one: a plain automaton, no regex cache per call.
fn secret_key_name() -> &'static AhoCorasick {
    static A: OnceLock<AhoCorasick> = OnceLock::new();
    A.get_or_init(|| {
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(SECRET_KEY_WORDS)
            .expect("valid literals")
    })
}

/// Credentials inside text: JSON members named by a [`SECRET_KEY_WORDS`] word, `Authorization`
/// values and Langfuse secret keys.
fn inline() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        let names = SECRET_KEY_WORDS.map(regex::escape).join("|");
        Regex::new(&format!(
            concat!(
                r#"(?i)(?P<json>"[a-z0-9_.-]*(?:{names})"\s*:\s*)"(?:[^"\\]|\\.)*""#,
                r#"|(?P<auth>{authorization}["']?\s*[:=]\s*["']?)(?:bearer|basic)\s+[a-z0-9._~+/=-]+"#,
                r"|{langfuse}[0-9a-z][0-9a-z_-]*",
            ),
            names = names,
            authorization = AUTHORIZATION,
            langfuse = regex::escape(LANGFUSE_SECRET_KEY_PREFIX),
        ))
        .expect("valid")
    })
}

/// The words every match of [`inline`] holds, lowercase: a JSON member's name ends in one of
/// [`SECRET_KEY_WORDS`] right before its closing quote, then comes `\s*:`; an `Authorization`
/// value follows `authorization["']?\s*[:=]`; a Langfuse key starts with its prefix. Searched
/// in a lowercased copy of the text, as [`row_hint`] is. None of them starts another, so the
/// search, which reports one word per start, misses no occurrence.
fn inline_words() -> &'static aho_corasick::packed::Searcher {
    static S: OnceLock<aho_corasick::packed::Searcher> = OnceLock::new();
    S.get_or_init(|| {
        aho_corasick::packed::Config::new()
            .builder()
            .extend(SECRET_KEY_WORDS.iter().chain(&[LANGFUSE_SECRET_KEY_PREFIX]))
            .build()
            .expect("a packed searcher for a few short literals")
    })
}

/// Whether the text may hold a match of [`inline`] (false: certainly not): a literal scan
/// instead of the regex, which would scan long JSON-like text from every `"`. Necessary for a
/// match: one of [`inline_words`], and after a credential word an optional quote, whitespace
/// and `:` or `=` (both branches, see [`inline_words`]), the same `\s` (Unicode White_Space)
/// as the regex's. No match is shorter than the Langfuse prefix and one character. The
/// regex's case-insensitivity also spells `k` and `s` with two non-ASCII letters, so text
/// holding one of them always goes to the regex.
fn may_hold_inline(text: &str) -> bool {
    if text.len() <= LANGFUSE_SECRET_KEY_PREFIX.len() {
        return false;
    }
    if !text.is_ascii() && holds_folding_letter(text.as_bytes()) {
        return true;
    }
    let lowered = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(word) =
        inline_words().find_in(&lowered, aho_corasick::Span::from(from..text.len()))
    {
        let names_credential = word.pattern().as_usize() < SECRET_KEY_WORDS.len();
        if !names_credential || introduces_value(&text[word.end()..]) {
            return true;
        }
        from = word.start() + 1;
    }
    false
}

/// Whether text following a credential word starts like a JSON member's or a header's value.
fn introduces_value(rest: &str) -> bool {
    let rest = rest.strip_prefix(['"', '\'']).unwrap_or(rest);
    rest.trim_start().starts_with([':', '='])
}

/// A whole value that is an HTTP credential (`Bearer …`, `Basic …`).
fn header_value() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        Regex::new(r"(?i)^\s*(?:bearer|basic)\s+[a-z0-9._~+/=-]{8,}\s*$").expect("valid")
    })
}

/// Whether a map key names a credential.
pub fn is_secret_key(key: &str) -> bool {
    secret_key_name().is_match(key)
}

/// Whether the text holds a credential [`redact_text`] would replace.
fn text_needs(text: &str) -> bool {
    is_header_credential(text) || (may_hold_inline(text) && inline().is_match(text))
}

/// A whole (short) value that is `Bearer …` / `Basic …`.
fn is_header_credential(text: &str) -> bool {
    matches!(text.trim_start().as_bytes().first(), Some(b'b' | b'B'))
        && text.len() <= 8192
        && header_value().is_match(text)
}

/// The text with credentials replaced (borrowed when there are none).
pub fn redact_text(text: &str) -> Cow<'_, str> {
    if is_header_credential(text) {
        return Cow::Owned(REDACTED.to_string());
    }
    if !may_hold_inline(text) {
        return Cow::Borrowed(text);
    }
    replace_inline(text)
}

fn replace_inline(text: &str) -> Cow<'_, str> {
    inline().replace_all(text, |c: &Captures<'_>| {
        if let Some(prefix) = c.name("json") {
            format!("{}\"{REDACTED}\"", prefix.as_str())
        } else if let Some(prefix) = c.name("auth") {
            format!("{}{REDACTED}", prefix.as_str())
        } else {
            REDACTED.to_string()
        }
    })
}

/// Checks [`text_needs`] and [`redact_text`] on `text` against the regexes alone, without the
/// literal prefilter: the answers must be the same (unit tests and the fuzz targets call this).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn assert_prefilter_exact(text: &str) {
    let header = is_header_credential(text);
    assert_eq!(
        text_needs(text),
        header || inline().is_match(text),
        "text_needs({text:?})"
    );
    let by_regex = if header {
        Cow::Owned(REDACTED.to_string())
    } else {
        replace_inline(text)
    };
    assert_eq!(redact_text(text), by_regex, "redact_text({text:?})");
}

fn map_needs(map: &AttrMap) -> bool {
    map.iter()
        .any(|(k, v)| (is_secret_key(k) && v != REDACTED) || text_needs(v))
}

fn fix_text(text: &mut String) {
    if let Cow::Owned(clean) = redact_text(text) {
        *text = clean;
    }
}

fn fix_map(map: &mut AttrMap) {
    for (k, v) in map.iter_mut() {
        if is_secret_key(k) {
            *v = REDACTED.to_string();
        } else {
            fix_text(v);
        }
    }
}

impl Redact for SpanRow {
    fn redacted(&self) -> Option<SpanRow> {
        let dirty = [&self.input, &self.output, &self.status_message]
            .into_iter()
            .any(|t| text_needs(t))
            || [
                &self.metadata,
                &self.span_attributes,
                &*self.resource_attributes,
            ]
            .into_iter()
            .any(map_needs)
            || self
                .events_attributes
                .iter()
                .chain(&self.links_attributes)
                .any(map_needs);
        if !dirty {
            return None;
        }
        let mut row = self.clone();
        for t in [&mut row.input, &mut row.output, &mut row.status_message] {
            fix_text(t);
        }
        for m in [
            &mut row.metadata,
            &mut row.span_attributes,
            std::sync::Arc::make_mut(&mut row.resource_attributes),
        ] {
            fix_map(m);
        }
        for m in row
            .events_attributes
            .iter_mut()
            .chain(row.links_attributes.iter_mut())
        {
            fix_map(m);
        }
        Some(row)
    }
}

impl Redact for LogRow {
    fn redacted(&self) -> Option<LogRow> {
        let dirty = text_needs(&self.body)
            || [
                &self.log_attributes,
                &*self.resource_attributes,
                &self.scope_attributes,
            ]
            .into_iter()
            .any(map_needs);
        if !dirty {
            return None;
        }
        let mut row = self.clone();
        fix_text(&mut row.body);
        for m in [
            &mut row.log_attributes,
            std::sync::Arc::make_mut(&mut row.resource_attributes),
            &mut row.scope_attributes,
        ] {
            fix_map(m);
        }
        Some(row)
    }
}

impl Redact for ScoreRow {
    fn redacted(&self) -> Option<ScoreRow> {
        if !text_needs(&self.comment) && !map_needs(&self.metadata) {
            return None;
        }
        let mut row = self.clone();
        fix_text(&mut row.comment);
        fix_map(&mut row.metadata);
        Some(row)
    }
}

/// Metric rows store text only in their attribute maps: resource, scope, the point's series
/// and (where the type has them) the exemplars' filtered attributes.
macro_rules! redact_metric_rows {
    ($($row:ty => [$($exemplars:ident)?]),* $(,)?) => {$(
        impl Redact for $row {
            fn redacted(&self) -> Option<$row> {
                let maps = [&self.resource_attributes, &self.scope_attributes, &self.attributes];
                let dirty = maps.into_iter().any(map_needs)
                    $(|| self.$exemplars.iter().any(map_needs))?;
                if !dirty {
                    return None;
                }
                let mut row = self.clone();
                for m in [&mut row.resource_attributes, &mut row.scope_attributes, &mut row.attributes] {
                    fix_map(m);
                }
                $(row.$exemplars.iter_mut().for_each(fix_map);)?
                Some(row)
            }
        }
    )*};
}

redact_metric_rows! {
    GaugeRow => [exemplars_filtered_attributes],
    SumRow => [exemplars_filtered_attributes],
    HistogramRow => [exemplars_filtered_attributes],
    ExponentialHistogramRow => [exemplars_filtered_attributes],
    SummaryRow => [],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_rows_lose_credentials_in_their_attributes() {
        let row = HistogramRow {
            attributes: vec![("api_key".into(), "sk-1".into()), ("k".into(), "v".into())],
            exemplars_filtered_attributes: vec![vec![("x".into(), "Bearer abcdefghijkl".into())]],
            ..HistogramRow::default()
        };
        let clean = row.redacted().unwrap();
        assert_eq!(clean.attributes[0].1, REDACTED);
        assert_eq!(clean.attributes[1].1, "v");
        assert_eq!(clean.exemplars_filtered_attributes[0][0].1, REDACTED);
        assert_eq!(SummaryRow::default().redacted(), None);
    }

    /// A word as is, in upper case, in alternating case, and with every `k` / `s` written as
    /// KELVIN SIGN / LONG S.
    fn spellings(word: &str) -> [String; 4] {
        let alternating = word
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        let folded = word.replace('k', "\u{212A}").replace('s', "\u{17F}");
        [
            word.to_string(),
            word.to_ascii_uppercase(),
            alternating,
            folded,
        ]
    }

    #[test]
    fn the_literal_prefilter_answers_as_the_regex_does() {
        let near_misses = ["secret", "api key", "authoriz", "passwor", "sk-lf"];
        let before = [
            "",
            "secrets in logs, missing ",
            "\"",
            "{\"x-",
            "'",
            "{\"a b",
            "sk-lf-",
        ];
        let after = ["", "\"", "'", "\"\"", "s"];
        let spaces = ["", " ", "\t\n ", "\u{3000}", "\u{200B}"];
        let separators = [":", "=", " is", ""];
        let values = [
            "",
            " \"v\"",
            "\"v\\\"w\" }",
            " Bearer abc.def",
            "bearer",
            " Basic  cGs6c2s=",
            " \"open",
            "0-ab_c",
            "\u{212A}",
            " checks on new endpoints",
            " 'Bearer x'",
        ];
        let (mut texts, mut credentials) = (0, 0);
        let words = SECRET_KEY_WORDS.iter().chain(&[LANGFUSE_SECRET_KEY_PREFIX]);
        for word in words.chain(&near_misses) {
            for spelled in spellings(word) {
                for quote in after {
                    for space in spaces {
                        for separator in separators {
                            let b = before[texts % before.len()];
                            let v = values[texts % values.len()];
                            let text = format!("{b}{spelled}{quote}{space}{separator}{space}{v}");
                            assert_prefilter_exact(&text);
                            texts += 1;
                            credentials += usize::from(text_needs(&text));
                        }
                    }
                }
            }
        }
        // Both answers come up often: the comparison is not one-sided.
        assert!(
            credentials > texts / 10 && credentials < texts / 2,
            "{credentials} of {texts}"
        );
        for text in [
            "Security checklist: SQL built by string concatenation, secrets in logs, unbounded \
             allocations driven by request input, missing authorization checks on new endpoints",
            r#"[{"role":"user","content":"is an api_key in a password field a secret?"}]"#,
            r#"{"headers":{"Authorization":"Bearer abc"},"password" : "x","api-key":"y"}"#,
            "authorization\u{2028}=\u{85}basic abc and sk-lf-\u{17F}",
            "Bearer abcdefghijkl",
            "sk-lf-0",
        ] {
            assert_prefilter_exact(text);
        }
    }

    #[test]
    fn the_prefilter_knows_the_regexes_whitespace_case_folding_and_words() {
        let every_char: String = (0..=u32::from(char::MAX))
            .filter_map(char::from_u32)
            .collect();
        let matched = |pattern: &str| -> String {
            let regex = Regex::new(pattern).unwrap();
            regex.find_iter(&every_char).map(|m| m.as_str()).collect()
        };
        let whitespace: String = every_char.chars().filter(|c| c.is_whitespace()).collect();
        assert_eq!(matched(r"\s"), whitespace);
        let non_ascii_letters: String = matched("(?i)[a-z]")
            .chars()
            .filter(|c| !c.is_ascii())
            .collect();
        assert_eq!(non_ascii_letters, "\u{17F}\u{212A}");
        for letter in non_ascii_letters.chars() {
            assert!(holds_folding_letter(letter.to_string().as_bytes()));
        }
        let words: Vec<&str> = SECRET_KEY_WORDS
            .into_iter()
            .chain([LANGFUSE_SECRET_KEY_PREFIX])
            .collect();
        for (i, word) in words.iter().enumerate() {
            assert_eq!(inline_words().find(word).unwrap().pattern().as_usize(), i);
            for other in &words {
                assert!(
                    word == other || !other.starts_with(word),
                    "{word} starts {other}"
                );
            }
        }
    }

    fn encoded(row: &SpanRow) -> Vec<u8> {
        let mut bytes = Vec::new();
        crate::storage::rowbinary::encode_row(&mut bytes, row).unwrap();
        bytes
    }

    #[test]
    fn the_encoded_row_prefilter_sends_every_credential_to_the_field_check() {
        let dirty = [
            SpanRow {
                output: "token sk-lf-0000-1111".into(),
                ..Default::default()
            },
            SpanRow {
                events_attributes: vec![vec![("x".into(), "Basic cGs6c2s9PT0=".into())]],
                ..Default::default()
            },
            SpanRow {
                metadata: vec![("API_KEY".into(), "k".into())],
                ..Default::default()
            },
            // LONG S folds to `s` under the regexes' case-insensitivity.
            SpanRow {
                input: "{\"\u{17F}ecret_key\": \"x\"}".into(),
                ..Default::default()
            },
        ];
        for row in &dirty {
            let clean = row.redacted().expect("a credential");
            assert!(may_hold_credentials(&encoded(row), &mut Vec::new()));
            let chunk = super::super::EncodedChunk::encode(std::slice::from_ref(row)).unwrap();
            assert_eq!(chunk.bytes, encoded(&clean));
        }
        let plain = SpanRow {
            input: "what is the capital of France?".into(),
            ..Default::default()
        };
        assert!(!may_hold_credentials(&encoded(&plain), &mut Vec::new()));
        // A hint word alone passes the prefilter; the field check keeps the row as it is.
        let basic = SpanRow {
            input: "a basic question".into(),
            ..Default::default()
        };
        assert!(may_hold_credentials(&encoded(&basic), &mut Vec::new()));
        let chunk = super::super::EncodedChunk::encode(std::slice::from_ref(&basic)).unwrap();
        assert_eq!(chunk.bytes, encoded(&basic));
    }

    #[test]
    fn strips_keys_json_members_and_header_values() {
        let meta = r#"{"clientInitParams":{"publicKey":"pk-lf-1","secretKey":"sk-lf-abc-123","baseUrl":"http://x"},"sdk":"js"}"#;
        assert_eq!(
            redact_text(meta),
            r#"{"clientInitParams":{"publicKey":"pk-lf-1","secretKey":"[REDACTED]","baseUrl":"http://x"},"sdk":"js"}"#
        );
        assert_eq!(
            redact_text("key sk-lf-1234-abcd in text"),
            "key [REDACTED] in text"
        );
        assert_eq!(redact_text("Bearer sk-abcdefghijkl"), REDACTED);
        assert_eq!(
            redact_text(r#"headers: {"Authorization": "Basic cGs6c2s="}"#),
            r#"headers: {"Authorization": "[REDACTED]"}"#
        );
        assert_eq!(
            redact_text("Authorization: Bearer abc.def"),
            "Authorization: [REDACTED]"
        );
        // Ordinary text stays, borrowed.
        for text in [
            "a basic question about api design",
            r#"{"secret": "plot twist"}"#,
        ] {
            assert!(matches!(redact_text(text), Cow::Borrowed(_)), "{text}");
        }
        let row = SpanRow {
            span_attributes: vec![
                ("http.request.header.authorization".into(), "xyz".into()),
                ("user".into(), "ann".into()),
            ],
            ..Default::default()
        };
        let clean = row.redacted().unwrap();
        assert_eq!(
            clean.span_attributes,
            vec![
                ("http.request.header.authorization".into(), REDACTED.into()),
                ("user".into(), "ann".into())
            ]
        );
        assert!(clean.redacted().is_none());
        assert!(SpanRow::default().redacted().is_none());
        let log = LogRow {
            body: "token sk-lf-0000-1111".into(),
            log_attributes: vec![("x-api-key".into(), "k".into())],
            ..Default::default()
        };
        let clean = log.redacted().unwrap();
        assert_eq!(
            (clean.body.as_str(), clean.log_attributes[0].1.as_str()),
            ("token [REDACTED]", REDACTED)
        );
        let score = ScoreRow {
            metadata: vec![("password".into(), "hunter2".into())],
            ..Default::default()
        };
        assert_eq!(score.redacted().unwrap().metadata[0].1, REDACTED);
    }
}
