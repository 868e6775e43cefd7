//! RS256 bearer tokens verified against a JWKS file, as Entra ID issues them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

const ISSUER: &str = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0";
const AUDIENCE: &str = "api://tenantatlas";

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwks")
        .join(name)
}

fn entra_token(kid: &str, claims: serde_json::Value) -> String {
    let key = EncodingKey::from_rsa_pem(&std::fs::read(fixture("test-rs256-private.pem")).unwrap())
        .unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    encode(&header, &claims, &key).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_tokens_from_the_jwks_are_accepted_with_issuer_and_audience_checked() {
    let app = TestApp::spawn_configured(TestDb::new().await, |c| {
        c.jwt.jwks_file = Some(fixture("jwks.json"));
        c.jwt.issuer = Some(ISSUER.into());
        c.jwt.audience = Some(AUDIENCE.into());
    })
    .await;
    let now = chrono::Utc::now().timestamp();
    let claims = |aud: &str, iss: &str| {
        json!({"iss": iss, "aud": aud, "iat": now, "nbf": now, "exp": now + 600,
               "preferred_username": "Ann@Contoso.com", "email": "someone-else@evil.test", "oid": "x"})
    };
    let query = "{ viewer { user { email } } }";

    let good = entra_token("test-key-1", claims(AUDIENCE, ISSUER));
    let data = app.gql_ok(&good, query, json!({})).await;
    assert_eq!(
        data["viewer"]["user"]["email"], "ann@contoso.com",
        "preferred_username, not the editable email claim"
    );

    for (label, token) in [
        (
            "unknown key id",
            entra_token("other-key", claims(AUDIENCE, ISSUER)),
        ),
        (
            "wrong audience",
            entra_token("test-key-1", claims("api://someone-else", ISSUER)),
        ),
        (
            "wrong issuer",
            entra_token("test-key-1", claims(AUDIENCE, "https://evil.example/v2.0")),
        ),
    ] {
        let resp = app.gql(Some(&token), query, json!({})).await;
        assert_eq!(error_code(&resp), "UNAUTHENTICATED", "{label}: {resp}");
    }
    let not_yet = entra_token(
        "test-key-1",
        json!({"iss": ISSUER, "aud": AUDIENCE, "iat": now, "nbf": now + 3600, "exp": now + 7200, "upn": "ann@contoso.com"}),
    );
    let resp = app.gql(Some(&not_yet), query, json!({})).await;
    assert_eq!(
        error_code(&resp),
        "UNAUTHENTICATED",
        "nbf in the future: {resp}"
    );
    // The server's own HS256 tokens carry the configured issuer and audience.
    let own = app.token("bob@contoso.com");
    assert_eq!(
        app.gql_ok(&own, query, json!({})).await["viewer"]["user"]["email"],
        "bob@contoso.com"
    );
}
