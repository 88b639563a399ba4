//! Tests of [`super::JwtVerifier`] with keys made here: ECDSA P-256 and Ed25519 key pairs
//! (ring) published as a JWKS file, tokens signed with `jsonwebtoken`.

use std::path::Path;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, EcdsaSigningAlgorithm,
    Ed25519KeyPair, KeyPair,
};
use serde_json::{Value, json};

use super::*;

const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "agentry";

/// A signing key and its public JWK.
struct TestKey {
    algorithm: Algorithm,
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

fn p256(kid: &str) -> TestKey {
    ecdsa(kid, &ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", Algorithm::ES256)
}

fn p384(kid: &str) -> TestKey {
    ecdsa(kid, &ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", Algorithm::ES384)
}

fn ecdsa(kid: &str, signing: &'static EcdsaSigningAlgorithm, curve: &str, algorithm: Algorithm) -> TestKey {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &rng).expect("generate an ECDSA key");
    let pair = EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref(), &rng).expect("ECDSA pair");
    // Uncompressed point: 0x04 || x || y.
    let point = pair.public_key().as_ref();
    let half = (point.len() - 1) / 2;
    let jwk = json!({
        "kty": "EC", "crv": curve, "kid": kid, "use": "sig",
        "x": base64url(&point[1..=half]), "y": base64url(&point[half + 1..]),
    });
    TestKey { algorithm, kid: kid.to_owned(), encoding: EncodingKey::from_ec_der(pkcs8.as_ref()), jwk }
}

fn ed25519(kid: &str) -> TestKey {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("generate Ed25519");
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("Ed25519 pair");
    let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "kid": kid, "alg": "EdDSA", "x": base64url(pair.public_key().as_ref()) });
    TestKey {
        algorithm: Algorithm::EdDSA,
        kid: kid.to_owned(),
        encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
        jwk,
    }
}

/// Base64url without padding (RFC 4648 §5), as JWKs write key material.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let group =
            chunk.iter().enumerate().fold(0u32, |acc, (index, byte)| acc | u32::from(*byte) << (16 - 8 * index));
        for index in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((group >> (18 - 6 * index)) & 63) as usize]));
        }
    }
    out
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn claims(role: &str, tenant: Option<&str>) -> Value {
    let mut claims =
        json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "exp": now() + 600, "agentry_role": role });
    if let Some(tenant) = tenant {
        claims["agentry_tenant"] = json!(tenant);
    }
    claims
}

fn sign(key: &TestKey, claims: &Value) -> String {
    let mut header = Header::new(key.algorithm);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).expect("sign")
}

/// Writes a JWKS of `keys` and returns a verifier reading it.
async fn verifier(dir: &Path, keys: &[&TestKey]) -> Arc<JwtVerifier> {
    let path = dir.join("jwks.json");
    let jwks = json!({ "keys": keys.iter().map(|key| key.jwk.clone()).collect::<Vec<_>>() });
    std::fs::write(&path, jwks.to_string()).expect("write JWKS");
    let config = HubConfig {
        jwt_issuer: Some(ISSUER.to_owned()),
        jwt_audience: Some(AUDIENCE.to_owned()),
        jwt_jwks: Some(path.display().to_string()),
        ..HubConfig::default()
    };
    Arc::new(JwtVerifier::from_config(&config).await.expect("verifier").expect("configured"))
}

#[test]
fn base64url_matches_the_rfc_vectors() {
    assert_eq!(base64url(b"foobar"), "Zm9vYmFy");
    assert_eq!(base64url(b"fooba"), "Zm9vYmE");
    assert_eq!(base64url(b"\xfb\xff"), "-_8");
}

#[tokio::test]
async fn tokens_of_the_issuer_are_accepted_with_their_claims() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ec, ed, ec384) = (p256("ec-1"), ed25519("ed-1"), p384("ec-384"));
    let verifier = verifier(dir.path(), &[&ec, &ed, &ec384]).await;
    let client = verifier.verify(&sign(&ec, &claims("client", Some("acme")))).expect("ES256 token");
    assert_eq!(
        client,
        Principal { actor: "alice".into(), role: Role::Client, tenant: Some("acme".into()), method: AuthMethod::Jwt }
    );
    let admin = verifier.verify(&sign(&ed, &claims("admin", None))).expect("EdDSA token");
    assert_eq!((admin.role, admin.tenant), (Role::Admin, None));
    let mut groups = claims("viewer", Some("acme"));
    groups["agentry_role"] = json!(["viewer", "someone-else", "operator"]);
    assert_eq!(verifier.verify(&sign(&ec, &groups)).expect("role list").role, Role::Operator);
    let viewer = verifier.verify(&sign(&ec384, &claims("viewer", Some("acme")))).expect("ES384 token");
    assert_eq!(viewer.role, Role::Viewer);
    // A P-256 key does not verify an ES384 token, whatever its kid says.
    let mismatched = TestKey { algorithm: Algorithm::ES384, kid: "ec-1".into(), ..p384("x") };
    let refused = verifier.verify(&sign(&mismatched, &claims("viewer", Some("acme")))).expect_err("wrong key type");
    assert!(refused.contains("signed with ES384 but its key is for [ES256]"), "{refused}");
}

#[tokio::test]
async fn invalid_tokens_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = p256("k1");
    let verifier = verifier(dir.path(), &[&key]).await;
    let with = |field: &str, value: Value| {
        let mut claims = claims("client", Some("acme"));
        claims[field] = value;
        claims
    };
    let without = |field: &str| {
        let mut claims = claims("client", Some("acme"));
        claims.as_object_mut().map(|object| object.remove(field));
        claims
    };
    let impostor = p256("k1");
    let stranger = p256("k2");
    let cases = [
        (sign(&key, &with("exp", json!(now() - 3600))), "has expired"),
        (sign(&key, &with("aud", json!("someone-else"))), "audience (aud) does not include agentry"),
        (sign(&key, &with("iss", json!("https://evil.example"))), "issuer (iss) is not https://issuer.example"),
        (sign(&key, &without("sub")), "no sub claim"),
        (sign(&key, &without("exp")), "no exp claim"),
        (sign(&key, &without("agentry_tenant")), "no agentry_tenant claim"),
        (sign(&key, &with("agentry_role", json!("root"))), "names no role"),
        (sign(&impostor, &claims("client", Some("acme"))), "signature does not verify"),
        (sign(&stranger, &claims("client", Some("acme"))), "key \"k2\" (kid) is not among the keys"),
        ("not-a-jwt".to_owned(), "neither a known token nor a valid JWT"),
    ];
    for (token, reason) in cases {
        let refused = verifier.verify(&token).expect_err(reason);
        assert!(refused.contains(reason), "expected {reason:?}, got {refused:?}");
    }
}

#[tokio::test]
async fn symmetric_and_unsigned_algorithms_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = p256("k1");
    let verifier = verifier(dir.path(), &[&key]).await;
    // HS256 "signed" with the public key's text: the classic algorithm confusion.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let forged = jsonwebtoken::encode(
        &header,
        &claims("admin", None),
        &EncodingKey::from_secret(key.jwk.to_string().as_bytes()),
    )
    .expect("sign HS256");
    assert!(verifier.verify(&forged).expect_err("HS256").contains("HS256 is not accepted"));
    let unsigned = format!(
        "{}.{}.",
        base64url(br#"{"alg":"none","kid":"k1"}"#),
        base64url(claims("admin", None).to_string().as_bytes())
    );
    assert!(verifier.verify(&unsigned).is_err());
}

#[tokio::test]
async fn a_changed_jwks_file_is_read_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (old, new) = (p256("old"), ed25519("new"));
    let verifier = verifier(dir.path(), &[&old]).await;
    let token = sign(&new, &claims("viewer", Some("acme")));
    assert!(verifier.verify(&token).is_err());
    let jwks = json!({ "keys": [old.jwk.clone(), new.jwk.clone()] });
    std::fs::write(dir.path().join("jwks.json"), jwks.to_string()).expect("rotate");
    verifier.reload().await.expect("reload");
    assert_eq!(verifier.verify(&token).expect("rotated key").role, Role::Viewer);
}

#[test]
fn unusable_keys_are_skipped_and_a_set_without_any_is_refused() {
    let ec = p256("ec");
    let set = json!({ "keys": [
        { "kty": "oct", "k": "c2VjcmV0", "kid": "hmac" },
        { "kty": "EC", "crv": "P-521", "kid": "p521", "x": "AA", "y": "AA" },
        { "kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB" },
        ec.jwk,
    ]});
    let keys = KeySet::parse(set.to_string().as_bytes()).expect("one usable key");
    assert_eq!(keys.keys.len(), 1);
    assert!(keys.find(Some("ec")).is_some() && keys.find(None).is_some() && keys.find(Some("hmac")).is_none());
    let none = json!({ "keys": [{ "kty": "oct", "k": "c2VjcmV0" }] });
    assert!(KeySet::parse(none.to_string().as_bytes()).err().expect("refused").contains("none of its 1 keys"));
    assert!(KeySet::parse(b"{}").err().expect("refused").contains("no \"keys\" array"));
}

#[test]
fn jwks_urls_must_be_https_except_on_loopback() {
    assert!(matches!(JwksSource::parse("https://issuer.example/jwks"), Ok(JwksSource::Url(_))));
    assert!(matches!(JwksSource::parse("http://127.0.0.1:8080/jwks"), Ok(JwksSource::Url(_))));
    assert!(matches!(JwksSource::parse("http://[::1]:8080/jwks"), Ok(JwksSource::Url(_))));
    assert_eq!(
        JwksSource::parse("/etc/agentry/jwks.json").ok(),
        Some(JwksSource::File("/etc/agentry/jwks.json".into()))
    );
    let error = JwksSource::parse("http://issuer.example/jwks").expect_err("plaintext refused").to_string();
    assert!(error.starts_with("jwt-jwks: http://issuer.example/jwks: fetch the keys over https://"), "{error}");
}

#[tokio::test]
async fn a_missing_jwks_file_is_named() {
    let config = HubConfig {
        jwt_issuer: Some(ISSUER.to_owned()),
        jwt_audience: Some(AUDIENCE.to_owned()),
        jwt_jwks: Some("/nonexistent/jwks.json".to_owned()),
        ..HubConfig::default()
    };
    let error = JwtVerifier::from_config(&config).await.err().expect("refused").to_string();
    assert!(error.starts_with("JWT keys /nonexistent/jwks.json (hub.jwt-jwks):"), "{error}");
}

#[tokio::test]
async fn a_url_jwks_is_fetched_again_for_an_unknown_kid() {
    let (old, new) = (p256("old"), ed25519("new"));
    let served = Arc::new(std::sync::Mutex::new(json!({ "keys": [old.jwk.clone()] }).to_string()));
    let served_by_route = Arc::clone(&served);
    let route = axum::routing::get(move || {
        let served = Arc::clone(&served_by_route);
        async move { served.lock().map(|jwks| jwks.clone()).unwrap_or_default() }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(axum::serve(listener, axum::Router::new().route("/jwks", route)).into_future());
    let config = HubConfig {
        jwt_issuer: Some(ISSUER.to_owned()),
        jwt_audience: Some(AUDIENCE.to_owned()),
        jwt_jwks: Some(format!("http://{address}/jwks")),
        ..HubConfig::default()
    };
    let mut verifier = JwtVerifier::from_config(&config).await.expect("verifier").expect("configured");
    verifier.refetch_after = Duration::ZERO;
    let verifier = Arc::new(verifier);
    assert!(verifier.verify(&sign(&old, &claims("viewer", Some("acme")))).is_ok(), "the fetched key verifies");

    if let Ok(mut jwks) = served.lock() {
        *jwks = json!({ "keys": [old.jwk.clone(), new.jwk.clone()] }).to_string();
    }
    let rotated = sign(&new, &claims("viewer", Some("acme")));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match verifier.verify(&rotated) {
            Ok(principal) => break assert_eq!(principal.role, Role::Viewer),
            Err(reason) => assert!(Instant::now() < deadline, "the rotated key was not fetched: {reason}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.abort();
}
