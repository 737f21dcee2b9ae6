//! API keys → projects. Keys are stored hashed (SHA-256, hex) in the config; a request presents
//! `Authorization: Bearer <key>` (or `x-api-key: <key>`), or — for Langfuse SDKs — HTTP Basic
//! with a Langfuse public/secret key pair. With no keys configured the collector runs in
//! single-project mode: no key needed, everything lands in `default_project`.

use std::collections::HashMap;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::config::{AuthConfig, ConfigError};

#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum AuthError {
    #[error(
        "missing API key: send `Authorization: Bearer <key>` (or Basic auth with a Langfuse key pair)"
    )]
    Missing,
    #[error("invalid API key")]
    Invalid,
    #[error("malformed Authorization header: {0}")]
    Malformed(&'static str),
}

pub(crate) struct ApiKeys {
    /// SHA-256 of a key → project.
    keys: HashMap<[u8; 32], String>,
    /// Langfuse public key → (SHA-256 of its secret key, project).
    langfuse: HashMap<String, ([u8; 32], String)>,
    default_project: String,
}

/// Hex SHA-256 of a key, as the config stores it (`spanlens-collector hash-key`).
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn parse_hash(field: &str, hex_hash: &str) -> Result<[u8; 32], ConfigError> {
    let bytes = hex::decode(hex_hash.trim()).map_err(|_| {
        ConfigError::Invalid(format!("{field} must be a hex SHA-256, got {hex_hash:?}"))
    })?;
    bytes
        .try_into()
        .map_err(|_| ConfigError::Invalid(format!("{field} must be 64 hex characters (SHA-256)")))
}

impl ApiKeys {
    pub fn from_config(auth: &AuthConfig, default_project: &str) -> Result<ApiKeys, ConfigError> {
        let mut out = ApiKeys {
            keys: HashMap::new(),
            langfuse: HashMap::new(),
            default_project: default_project.into(),
        };
        for (i, key) in auth.keys.iter().enumerate() {
            if key.project.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "auth.keys[{i}].project must not be empty"
                )));
            }
            if let Some(hash) = &key.key_sha256 {
                out.keys.insert(
                    parse_hash(&format!("auth.keys[{i}].key_sha256"), hash)?,
                    key.project.clone(),
                );
            }
            match (&key.langfuse_public_key, &key.langfuse_secret_key_sha256) {
                (Some(public), Some(secret)) => {
                    let hash = parse_hash(
                        &format!("auth.keys[{i}].langfuse_secret_key_sha256"),
                        secret,
                    )?;
                    out.langfuse
                        .insert(public.clone(), (hash, key.project.clone()));
                }
                (None, None) => {}
                _ => {
                    return Err(ConfigError::Invalid(format!(
                        "auth.keys[{i}]: langfuse_public_key and langfuse_secret_key_sha256 go together"
                    )));
                }
            }
            if key.key_sha256.is_none() && key.langfuse_public_key.is_none() {
                return Err(ConfigError::Invalid(format!(
                    "auth.keys[{i}] has neither key_sha256 nor a Langfuse key pair"
                )));
            }
        }
        Ok(out)
    }

    /// Single-project mode: no keys configured.
    pub fn is_open(&self) -> bool {
        self.keys.is_empty() && self.langfuse.is_empty()
    }

    /// The project a request's credentials belong to.
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        api_key: Option<&str>,
    ) -> Result<String, AuthError> {
        if self.is_open() {
            return Ok(self.default_project.clone());
        }
        let (scheme, value) = match (authorization, api_key) {
            (Some(h), _) => h
                .trim()
                .split_once(' ')
                .ok_or(AuthError::Malformed("expected `<scheme> <credentials>`"))?,
            (None, Some(key)) => ("bearer", key.trim()),
            (None, None) => return Err(AuthError::Missing),
        };
        if scheme.eq_ignore_ascii_case("bearer") {
            let hash: [u8; 32] = Sha256::digest(value.trim().as_bytes()).into();
            return self.keys.get(&hash).cloned().ok_or(AuthError::Invalid);
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .map_err(|_| AuthError::Malformed("Basic credentials are not base64"))?;
            let decoded = String::from_utf8(decoded)
                .map_err(|_| AuthError::Malformed("Basic credentials are not UTF-8"))?;
            let (public, secret) = decoded.split_once(':').ok_or(AuthError::Malformed(
                "Basic credentials need `public:secret`",
            ))?;
            let (want, project) = self.langfuse.get(public).ok_or(AuthError::Invalid)?;
            let got: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
            return if &got == want {
                Ok(project.clone())
            } else {
                Err(AuthError::Invalid)
            };
        }
        Err(AuthError::Malformed("scheme must be Bearer or Basic"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ApiKeyConfig;

    fn keys() -> ApiKeys {
        let auth = AuthConfig {
            keys: vec![
                ApiKeyConfig {
                    project: "shop".into(),
                    key_sha256: Some(hash_key("sk-shop")),
                    ..Default::default()
                },
                ApiKeyConfig {
                    project: "bank".into(),
                    key_sha256: Some(hash_key("sk-bank")),
                    langfuse_public_key: Some("pk-lf-1".into()),
                    langfuse_secret_key_sha256: Some(hash_key("sk-lf-1")),
                },
            ],
        };
        ApiKeys::from_config(&auth, "default").unwrap()
    }

    #[test]
    fn keys_map_to_their_projects() {
        let k = keys();
        assert_eq!(
            k.authenticate(Some("Bearer sk-shop"), None),
            Ok("shop".into())
        );
        assert_eq!(
            k.authenticate(Some("bearer sk-bank"), None),
            Ok("bank".into())
        );
        assert_eq!(k.authenticate(None, Some("sk-bank")), Ok("bank".into()));
        let basic = base64::engine::general_purpose::STANDARD.encode("pk-lf-1:sk-lf-1");
        assert_eq!(
            k.authenticate(Some(&format!("Basic {basic}")), None),
            Ok("bank".into())
        );
    }

    #[test]
    fn missing_wrong_and_malformed_credentials_are_refused() {
        let k = keys();
        assert_eq!(k.authenticate(None, None), Err(AuthError::Missing));
        assert_eq!(
            k.authenticate(Some("Bearer nope"), None),
            Err(AuthError::Invalid)
        );
        let wrong = base64::engine::general_purpose::STANDARD.encode("pk-lf-1:sk-shop");
        assert_eq!(
            k.authenticate(Some(&format!("Basic {wrong}")), None),
            Err(AuthError::Invalid)
        );
        assert!(matches!(
            k.authenticate(Some("Token x"), None),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            k.authenticate(Some("Basic !!!"), None),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn no_keys_means_single_project_mode() {
        let open = ApiKeys::from_config(&AuthConfig::default(), "local").unwrap();
        assert_eq!(open.authenticate(None, None), Ok("local".into()));
        let bad = AuthConfig {
            keys: vec![ApiKeyConfig {
                project: "p".into(),
                key_sha256: Some("xyz".into()),
                ..Default::default()
            }],
        };
        assert!(
            ApiKeys::from_config(&bad, "d")
                .err()
                .unwrap()
                .to_string()
                .contains("key_sha256")
        );
    }
}
