//! Certificate credentials: a client assertion signed with the certificate's key instead
//! of a client secret. The simulator verifies the assertion (registered certificate by
//! x5t#S256, signature, audience, issuer, time) and answers Entra's certificate errors,
//! which `booket check` names with their fix.

mod support;

use secrecy::SecretString;
use server::check::{self, Lang};
use server::config::Config;
use server::graph::{Certificate, ClientCredential};
use std::path::Path;
use std::sync::Arc;
use support::{Answer, Env};

/// A self-signed RSA certificate and its key, as an administrator makes them with openssl
/// (docs/operators/going-live.md).
fn make_certificate(dir: &Path, name: &str) -> (String, SecretString) {
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    let status = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=Booket"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is installed (scripts/setup.sh)");
    assert!(status.success());
    (
        std::fs::read_to_string(cert).unwrap(),
        SecretString::from(std::fs::read_to_string(key).unwrap()),
    )
}

fn certificate(cert: &str, key: &SecretString) -> ClientCredential {
    ClientCredential::Certificate(Arc::new(Certificate::from_pem(cert, key).unwrap()))
}

fn with_certificate(config: &mut Config, credential: ClientCredential) {
    config.calendars[0].graph_app_mut().credential = credential;
}

#[tokio::test]
async fn a_registered_certificate_gets_tokens_and_books() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = make_certificate(dir.path(), "booket");
    let credential = certificate(&cert, &key);
    let env = Env::start_with(Default::default(), |c| with_certificate(c, credential)).await;
    env.sim.register_certificate(&cert);
    let r = check::run(&env.config, Lang::En, env.now).await;
    assert!(r.all_ok(), "{}", r.render());
    assert!(r.render().contains("Token obtained"));
    // The server itself books with it.
    let week = env.week_ok("demo", "2026-12-09").await;
    let slot = support::slot_id(&week, "free", 0);
    let Answer(status, receipt) = env.book("demo", &slot, "with-certificate").await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["state"], "booked");
    let stats = env.sim.stats();
    assert!(stats.tokens_by_certificate >= 1);
    assert_eq!(
        stats.tokens_by_certificate, stats.token_requests,
        "no secret was used"
    );
}

#[tokio::test]
async fn entra_certificate_errors_are_named_with_their_fix() {
    let dir = tempfile::tempdir().unwrap();
    let (registered, _) = make_certificate(dir.path(), "registered");
    let (other, other_key) = make_certificate(dir.path(), "other");
    let env = Env::start().await;
    env.sim.register_certificate(&registered);

    // Signed with a certificate the app does not know.
    let mut config = env.config.clone();
    with_certificate(&mut config, certificate(&other, &other_key));
    let r = check::run(&config, Lang::En, env.now).await;
    let text = r.render();
    assert!(!r.all_ok());
    assert!(text.contains("AADSTS700027"), "{text}");
    assert!(text.contains("not the one registered on the app"), "{text}");
    assert!(
        text.contains("Certificates & secrets → Certificates"),
        "{text}"
    );

    // The registered certificate has expired.
    env.sim.register_certificate(&other);
    env.sim.set_certificates_expired(true);
    let r = check::run(&config, Lang::Da, env.now).await;
    let text = r.render();
    assert!(text.contains("AADSTS1000502"), "{text}");
    assert!(text.contains("udløbet"), "{text}");
    env.sim.set_certificates_expired(false);
    assert!(check::run(&config, Lang::En, env.now).await.all_ok());
}

#[tokio::test]
async fn the_simulator_refuses_assertions_that_are_not_right() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use secrecy::ExposeSecret;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = make_certificate(dir.path(), "booket");
    let env = Env::start().await;
    env.sim.register_certificate(&cert);
    let good = Certificate::from_pem(&cert, &key).unwrap();
    let token_url = env.sim_url(&format!(
        "/{}/oauth2/v2.0/token",
        server::sim::seed::DEMO_TENANT
    ));
    let now = chrono::Utc::now().timestamp();
    let sign = |claims: serde_json::Value| {
        let mut h = Header::new(Algorithm::PS256);
        h.x5t_s256 = Some(good.thumbprint.clone());
        jsonwebtoken::encode(
            &h,
            &claims,
            &EncodingKey::from_rsa_pem(key.expose_secret().as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let client = server::sim::seed::DEMO_CLIENT_ID;
    let claims = |aud: &str, iss: &str, nbf: i64, exp: i64| serde_json::json!({"aud": aud, "iss": iss, "sub": iss, "jti": "x", "nbf": nbf, "iat": nbf, "exp": exp});
    let http = reqwest::Client::new();
    let ask = |assertion: String| {
        http.post(&token_url)
            .form(&[
                ("client_id", client),
                ("scope", "https://graph.microsoft.com/.default"),
                ("grant_type", "client_credentials"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion.as_str()),
            ])
            .send()
    };
    let code = |body: serde_json::Value| body["error_codes"][0].as_u64().unwrap_or(0);
    // The right one is accepted.
    let res = ask(sign(claims(&token_url, client, now, now + 300)))
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    // For another token endpoint, expired, or from another client: refused.
    for (assertion, want) in [
        (
            sign(claims(
                "https://login.microsoftonline.com/x/oauth2/v2.0/token",
                client,
                now,
                now + 300,
            )),
            50012,
        ),
        (
            sign(claims(&token_url, client, now - 3600, now - 1800)),
            700024,
        ),
        (
            sign(claims(&token_url, "someone-else", now, now + 300)),
            50012,
        ),
    ] {
        let res = ask(assertion).await.unwrap();
        assert_eq!(res.status().as_u16(), 401);
        assert_eq!(code(res.json().await.unwrap()), want);
    }
    // A tampered payload fails the signature.
    let good_one = sign(claims(&token_url, client, now, now + 300));
    let mut parts: Vec<String> = good_one.split('.').map(str::to_owned).collect();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let forged = String::from_utf8(b64.decode(&parts[1]).unwrap())
        .unwrap()
        .replace(&(now + 300).to_string(), &(now + 3000).to_string());
    parts[1] = b64.encode(forged);
    let res = ask(parts.join(".")).await.unwrap();
    assert_eq!(code(res.json().await.unwrap()), 700027);
}

#[test]
fn a_key_that_does_not_belong_to_the_certificate_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = make_certificate(dir.path(), "a");
    let (_, other_key) = make_certificate(dir.path(), "b");
    let err = Certificate::from_pem(&cert, &other_key).err().unwrap();
    assert!(err.contains("does not belong"), "{err}");
    let err = Certificate::from_pem("not a pem", &other_key)
        .err()
        .unwrap();
    assert!(err.contains("BEGIN CERTIFICATE"), "{err}");
    // Through the configuration file: the field is named.
    let text = r#"
[[calendars]]
name = "Borgerservice"
outlook_calendar = "Borgerservice"
owner = "booking@kommune.dk"
tenant_id = "t"
client_id = "c"
certificate = { file = "a.crt" }
certificate_key = { file = "b.key" }
"#
    .to_string();
    let e = Config::parse(&text, "booket.toml", dir.path()).unwrap_err();
    assert!(e.to_string().contains("certificate"), "{e}");
    assert!(e.to_string().contains("does not belong"), "{e}");
    let both = text.replace(
        "certificate_key",
        "client_secret = { env = \"X\" }\ncertificate_key",
    );
    let e = Config::parse(&both, "booket.toml", dir.path()).unwrap_err();
    assert!(e.to_string().contains("not both"), "{e}");
}
