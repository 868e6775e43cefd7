//! Bearer tokens.
//!
//! HS256 tokens are minted by `tenantatlas token` and verified with the deployment's
//! secret (`TENANTATLAS_JWT_SECRET`, or one generated on first start and kept in the
//! database). RS256 tokens (e.g. Entra ID's) are verified against a JWKS file. Optional
//! issuer and audience checks apply to both.
use std::{collections::HashMap, path::Path, time::Duration};

use jsonwebtoken::{
    decode, decode_header, encode, jwk::JwkSet, Algorithm, DecodingKey, EncodingKey, Header,
    Validation,
};
use serde::{Deserialize, Serialize};

use crate::{
    config::JwtConfig,
    domain::workspace::normalize_email,
    error::{AppError, AppResult},
};

/// Claims TenantAtlas writes; on reading, the e-mail is taken from `email`,
/// `preferred_username`, `upn` or `sub`, in that order (Entra ID puts it in the middle two).
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    upn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
    #[serde(default)]
    iat: i64,
    exp: i64,
}

/// Verifies (and, for HS256, mints) bearer tokens.
pub struct TokenService {
    hs_encoding: EncodingKey,
    hs_decoding: DecodingKey,
    rs_keys: HashMap<String, DecodingKey>,
    issuer: Option<String>,
    audience: Option<String>,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("rs_keys", &self.rs_keys.len())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl TokenService {
    /// `secret` is the HS256 secret in effect (configured or stored).
    pub fn new(secret: &str, config: &JwtConfig) -> AppResult<Self> {
        let rs_keys = match &config.jwks_file {
            Some(path) => load_jwks(path)?,
            None => HashMap::new(),
        };
        Ok(Self {
            hs_encoding: EncodingKey::from_secret(secret.as_bytes()),
            hs_decoding: DecodingKey::from_secret(secret.as_bytes()),
            rs_keys,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
        })
    }

    /// Mints an HS256 token for `email`, valid for `ttl`.
    pub fn issue(&self, email: &str, ttl: Duration) -> AppResult<String> {
        let email =
            normalize_email("user", email).map_err(|e| AppError::bad_input(e.field, e.message))?;
        let now = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        self.sign(&email, now, now.saturating_add(ttl))
    }

    /// Mints a token with explicit times (tests use it for expired tokens).
    pub fn sign(&self, email: &str, iat: i64, exp: i64) -> AppResult<String> {
        let claims = Claims {
            sub: Some(email.to_string()),
            email: Some(email.to_string()),
            preferred_username: None,
            upn: None,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat,
            exp,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.hs_encoding)
            .map_err(|e| AppError::internal(format!("cannot sign token: {e}")))
    }

    /// Verifies a token and returns the user's e-mail. Errors are safe to show.
    pub fn verify(&self, token: &str) -> Result<String, String> {
        self.verify_with_expiry(token).map(|(email, _)| email)
    }

    /// Verifies a token and returns the user's e-mail and the token's `exp`.
    pub fn verify_with_expiry(&self, token: &str) -> Result<(String, i64), String> {
        let header = decode_header(token).map_err(|_| "malformed bearer token".to_string())?;
        let (key, alg) = match header.alg {
            Algorithm::HS256 => (&self.hs_decoding, Algorithm::HS256),
            Algorithm::RS256 => {
                let kid = header
                    .kid
                    .ok_or_else(|| "RS256 token without a key id".to_string())?;
                let key = self
                    .rs_keys
                    .get(&kid)
                    .ok_or_else(|| "token signed by an unknown key".to_string())?;
                (key, Algorithm::RS256)
            }
            _ => return Err("unsupported token algorithm".into()),
        };
        let mut validation = Validation::new(alg);
        validation.leeway = 5;
        validation.validate_nbf = true;
        validation.required_spec_claims = ["exp".to_string()].into_iter().collect();
        // A configured issuer or audience must be present, not merely "not different".
        match &self.issuer {
            Some(iss) => {
                validation.set_issuer(&[iss]);
                validation.required_spec_claims.insert("iss".into());
            }
            None => validation.iss = None,
        }
        match &self.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                validation.required_spec_claims.insert("aud".into());
            }
            None => validation.validate_aud = false,
        }
        let data = decode::<Claims>(token, key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => "bearer token expired".to_string(),
                ErrorKind::InvalidSignature => "bearer token signature is invalid".to_string(),
                ErrorKind::InvalidIssuer => "bearer token issuer is not accepted".to_string(),
                ErrorKind::InvalidAudience => "bearer token audience is not accepted".to_string(),
                _ => "bearer token is invalid".to_string(),
            }
        })?;
        let claims = data.claims;
        if claims.iat > chrono::Utc::now().timestamp() + 300 {
            return Err("bearer token issued in the future".into());
        }
        let present = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        // Entra ID (RS256): the sign-in name, never the mutable `email` claim first.
        let raw = if alg == Algorithm::RS256 {
            present(claims.preferred_username)
                .or(present(claims.upn))
                .or(present(claims.email))
        } else {
            present(claims.email)
                .or(present(claims.preferred_username))
                .or(present(claims.upn))
                .or(present(claims.sub))
        }
        .ok_or_else(|| "bearer token names no user".to_string())?;
        let email = normalize_email("token", &raw)
            .map_err(|_| "bearer token names no e-mail address".to_string())?;
        Ok((email, claims.exp))
    }
}

fn load_jwks(path: &Path) -> AppResult<HashMap<String, DecodingKey>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        AppError::bad_input(
            "TENANTATLAS_JWKS_FILE",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let set: JwkSet = serde_json::from_str(&text).map_err(|e| {
        AppError::bad_input("TENANTATLAS_JWKS_FILE", format!("not a JWKS document: {e}"))
    })?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if let Ok(key) = DecodingKey::from_jwk(jwk) {
            keys.insert(kid, key);
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> TokenService {
        TokenService::new("test-secret-test-secret-test-secret", &JwtConfig::default()).unwrap()
    }

    #[test]
    fn issued_tokens_verify_to_the_lowercased_email() {
        let s = service();
        let token = s.issue("Ann@Contoso.com", Duration::from_secs(60)).unwrap();
        assert_eq!(s.verify(&token).unwrap(), "ann@contoso.com");
    }

    #[test]
    fn expired_malformed_and_foreign_tokens_are_refused() {
        let s = service();
        let now = chrono::Utc::now().timestamp();
        let expired = s.sign("ann@contoso.com", now - 3600, now - 600).unwrap();
        assert_eq!(s.verify(&expired).unwrap_err(), "bearer token expired");
        assert_eq!(s.verify("not-a-jwt").unwrap_err(), "malformed bearer token");
        let other = TokenService::new("another-secret", &JwtConfig::default()).unwrap();
        let foreign = other
            .issue("ann@contoso.com", Duration::from_secs(60))
            .unwrap();
        assert_eq!(
            s.verify(&foreign).unwrap_err(),
            "bearer token signature is invalid"
        );
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let strict = TokenService::new(
            "s",
            &JwtConfig {
                issuer: Some("https://login.example".into()),
                audience: Some("api://tenantatlas".into()),
                ..JwtConfig::default()
            },
        )
        .unwrap();
        let lax = TokenService::new("s", &JwtConfig::default()).unwrap();
        let token = lax
            .issue("ann@contoso.com", Duration::from_secs(60))
            .unwrap();
        assert!(strict.verify(&token).is_err());
        let good = strict
            .issue("ann@contoso.com", Duration::from_secs(60))
            .unwrap();
        assert!(strict.verify(&good).is_ok());
    }
}
