//! Signed receipts: a booking's receipt carries a compact JWS (ES256) that the form's
//! backend verifies with the public keys at `/.well-known/jwks.json`, so a citizen cannot
//! invent or alter a booking by editing the hidden input. The same key signs a booking's
//! own link ([`ReceiptSigner::sign_link`]), typed apart from receipts. Signing and key handling are
//! jsonwebtoken's (RustCrypto); nothing here is hand-written cryptography.

use app::domain::Receipt;
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Why a configured key cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

/// The private key receipts are signed with.
#[derive(Clone)]
struct SigningKey {
    key: EncodingKey,
    kid: String,
}

/// A public key published in the JWKS (the current one, and retired ones until the last
/// receipt they signed has expired).
#[derive(Clone)]
struct Published {
    jwk: Jwk,
    /// When it stopped signing (`None`: the current key).
    retired_at: Option<DateTime<Utc>>,
}

/// Signs receipts and publishes the keys that verify them.
#[derive(Clone)]
pub struct ReceiptSigner {
    signing: SigningKey,
    published: Vec<Published>,
    /// Keys that seal personal data Booket must keep in Exchange (a booking's mail address
    /// in its record), derived from the signing key and from retired private keys: the
    /// first seals, all open.
    sealers: std::sync::Arc<Vec<ring::aead::LessSafeKey>>,
    issuer: String,
    lifetime: chrono::TimeDelta,
}

/// What a receipt's JWS says. Registered claims first, then the booking.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReceiptClaims {
    pub iss: String,
    /// The form id: a receipt for one form is no good for another.
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    /// The booking's id; the form's backend accepts each one once.
    pub jti: String,
    pub element: String,
    pub slot: String,
    pub start: String,
    pub end: String,
    pub calendar: String,
    pub state: String,
}

/// The JWS type of a booking event sent to a form's webhook.
pub const EVENT_TYPE: &str = "booket-event+jwt";

/// A booking event for the form's backend (`[[forms]] webhook_url`): what happened to which
/// booking. Registered claims first; `jti` is the event's own id (a receiver takes each
/// once), `booking` the booking's id as in its receipt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EventClaims {
    /// Set by [`ReceiptSigner::sign_event`] (the server's public URL).
    pub iss: String,
    /// The form id.
    pub aud: String,
    pub iat: i64,
    pub jti: String,
    /// `booking.created`, `booking.cancelled` or `booking.moved`.
    #[serde(rename = "type")]
    pub kind: String,
    pub booking: String,
    /// `booking.moved`: the id of the booking the moved one replaces (its old time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    pub element: String,
    pub calendar: String,
    pub start: String,
    pub end: String,
}

/// The JWS type of a booking's link token.
const LINK_TYPE: &str = "booket-link+jwt";

/// What a booking's link names: the booking (its id, as the receipt's `jti`), where it is
/// (form, element, calendar, event) and when it starts; it expires when the slot ends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LinkClaims {
    /// Set by [`ReceiptSigner::sign_link`] (the server's public URL).
    pub iss: String,
    /// The form id.
    pub aud: String,
    /// The slot's end (Unix seconds).
    pub exp: i64,
    /// The booking's id, as in its receipt.
    pub jti: String,
    pub element: String,
    /// The calendar's key in the configuration.
    pub calendar: String,
    pub event: String,
    pub start: String,
}

/// Why a link's token is not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a link this server signed (or one altered since).
    #[error("not a valid booking link")]
    Invalid,
    /// A genuine link whose slot has ended.
    #[error("the booking's time has passed")]
    Outdated,
}

fn with_kid(mut jwk: Jwk) -> Result<Jwk, KeyError> {
    // RFC 7638 thumbprint as key id: stable for a key, different for another.
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|e| KeyError(format!("no thumbprint: {e}")))?;
    jwk.common.key_id = Some(kid);
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk.common.key_algorithm = Some(KeyAlgorithm::ES256);
    Ok(jwk)
}

/// A P-256 private key in PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
fn signing_key(pem: &str) -> Result<(SigningKey, Jwk), KeyError> {
    crate::signing::ensure();
    let key = EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|_| {
        KeyError("is not a P-256 private key in PKCS#8 PEM (\"BEGIN PRIVATE KEY\"; `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`)".into())
    })?;
    let jwk = Jwk::from_encoding_key(&key, Algorithm::ES256)
        .map_err(|_| KeyError("is not a P-256 key".into()))?;
    let jwk = with_kid(jwk)?;
    let kid = jwk.common.key_id.clone().unwrap_or_default();
    Ok((SigningKey { key, kid }, jwk))
}

/// A retired key: its public key (`BEGIN PUBLIC KEY`) or the old private key.
fn public_jwk(pem: &str) -> Result<Jwk, KeyError> {
    crate::signing::ensure();
    if pem.contains("PRIVATE KEY") {
        return signing_key(pem).map(|(_, jwk)| jwk);
    }
    let key = DecodingKey::from_ec_pem(pem.as_bytes())
        .map_err(|_| KeyError("is not a P-256 public key in PEM".into()))?;
    let jwk = Jwk::from_decoding_key(&key, Some(Algorithm::ES256))
        .map_err(|_| KeyError("is not a P-256 public key".into()))?;
    with_kid(jwk)
}

/// Checks a configured key without keeping it (configuration validation).
pub fn check_signing_key(pem: &SecretString) -> Result<(), KeyError> {
    signing_key(pem.expose_secret()).map(|_| ())
}

pub fn check_public_key(pem: &SecretString) -> Result<(), KeyError> {
    public_jwk(pem.expose_secret()).map(|_| ())
}

/// A fresh P-256 key as PKCS#8 PEM (`booket demo`, tests, `booket receipt-key`).
pub fn generate_key_pem() -> SecretString {
    let pkcs8 = crate::signing::generate_p256_pkcs8();
    SecretString::from(pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8)))
}

/// The sealing key for a private key: HKDF-SHA256 over its PKCS#8 bytes, for
/// ChaCha20-Poly1305 (ring's; nothing hand-made).
fn sealer(pem: &str) -> Result<ring::aead::LessSafeKey, KeyError> {
    let der =
        pem::parse(pem.as_bytes()).map_err(|_| KeyError("is not a PEM private key".into()))?;
    let prk =
        ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"booket-sealed-v1").extract(der.contents());
    let okm = prk
        .expand(
            &[b"booket personal data in a booking record"],
            &ring::aead::CHACHA20_POLY1305,
        )
        .map_err(|_| KeyError("no sealing key".into()))?;
    Ok(ring::aead::LessSafeKey::new(ring::aead::UnboundKey::from(
        okm,
    )))
}

/// What sealed text is bound to (a sealed value opens only as what it was sealed for).
const SEALED_AAD: &[u8] = b"booket-address";

/// A booking's id: derived from the event and the booking's mark in it, so a retry (on any
/// instance) that finds its booking already made names the same booking. 128 bits,
/// URL-safe; reveals neither.
pub fn booking_id(event_id: &str, booked_mark: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"booket-booking\0");
    h.update(event_id.as_bytes());
    h.update(b"\0");
    h.update(booked_mark.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&h.finalize()[..16])
}

impl ReceiptSigner {
    /// `issuer` is the public URL; `previous` are retired keys with the time they retired.
    pub fn new(
        signing_pem: &SecretString,
        previous: &[(SecretString, DateTime<Utc>)],
        issuer: &str,
        lifetime: std::time::Duration,
    ) -> Result<Self, KeyError> {
        let (signing, jwk) = signing_key(signing_pem.expose_secret())?;
        let mut published = vec![Published {
            jwk,
            retired_at: None,
        }];
        for (pem, retired_at) in previous {
            let jwk = public_jwk(pem.expose_secret())?;
            if jwk.common.key_id.as_deref() != Some(signing.kid.as_str()) {
                published.push(Published {
                    jwk,
                    retired_at: Some(*retired_at),
                });
            }
        }
        let mut sealers = vec![sealer(signing_pem.expose_secret())?];
        for (pem, _) in previous {
            if pem.expose_secret().contains("PRIVATE KEY") {
                sealers.push(sealer(pem.expose_secret())?);
            }
        }
        Ok(ReceiptSigner {
            sealers: std::sync::Arc::new(sealers),
            signing,
            published,
            issuer: issuer.trim_end_matches('/').to_owned(),
            lifetime: chrono::TimeDelta::from_std(lifetime).unwrap_or(chrono::TimeDelta::days(30)),
        })
    }

    pub fn kid(&self) -> &str {
        &self.signing.kid
    }

    /// The compact JWS for a booked receipt.
    pub fn sign(
        &self,
        form: &str,
        element: &str,
        booking_id: &str,
        receipt: &Receipt,
        now: DateTime<Utc>,
    ) -> Option<String> {
        let claims = ReceiptClaims {
            iss: self.issuer.clone(),
            aud: form.to_owned(),
            iat: now.timestamp(),
            exp: (now + self.lifetime).timestamp(),
            jti: booking_id.to_owned(),
            element: element.to_owned(),
            slot: receipt.slot_id.clone(),
            start: receipt.start.to_rfc3339(),
            end: receipt.end.to_rfc3339(),
            calendar: receipt.calendar.clone(),
            state: serde_json::to_value(receipt.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        };
        // The booking stands; the receipt goes out unsigned and the log says why.
        self.signed("booket-receipt+jwt", &claims, "a receipt")
    }

    /// `claims` as a compact ES256 JWS with this key's id and the JWS type `typ` (what it
    /// is: receipt, link, event — one is never taken for another); `None`, logged, when it
    /// cannot be signed.
    fn signed<T: Serialize>(&self, typ: &str, claims: &T, what: &str) -> Option<String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.signing.kid.clone());
        header.typ = Some(typ.into());
        match jsonwebtoken::encode(&header, claims, &self.signing.key) {
            Ok(jws) => Some(jws),
            Err(e) => {
                tracing::error!("cannot sign {what}: {e}");
                None
            }
        }
    }

    /// The token of a booking's own link (`/booking/<token>`, issue 27): an ES256 JWS with
    /// the receipt's key and key id, typed `booket-link+jwt` so that a receipt is never
    /// taken for a link (nor a link for a receipt), naming the booking and expiring when
    /// its slot ends.
    pub fn sign_link(&self, link: &LinkClaims) -> Option<String> {
        let claims = LinkClaims {
            iss: self.issuer.clone(),
            ..link.clone()
        };
        self.signed(LINK_TYPE, &claims, "a booking link")
    }

    /// `text` sealed (ChaCha20-Poly1305, a random nonce) as URL-safe base64 with a version
    /// prefix (`s1.`): what only this server (or one with the same key) can open.
    pub fn seal(&self, text: &str) -> Option<String> {
        use base64::Engine;
        let mut nonce = [0u8; ring::aead::NONCE_LEN];
        getrandom::getrandom(&mut nonce).ok()?;
        let mut data = text.as_bytes().to_vec();
        self.sealers
            .first()?
            .seal_in_place_append_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(SEALED_AAD),
                &mut data,
            )
            .ok()?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Some(format!(
            "s1.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
        ))
    }

    /// What [`ReceiptSigner::seal`] sealed, with the current key or a retired private one;
    /// `None` for anything else (altered, another key, not sealed text).
    pub fn open(&self, sealed: &str) -> Option<String> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sealed.strip_prefix("s1.")?)
            .ok()?;
        if bytes.len() < ring::aead::NONCE_LEN {
            return None;
        }
        let (nonce, data) = bytes.split_at(ring::aead::NONCE_LEN);
        self.sealers.iter().find_map(|key| {
            let mut data = data.to_vec();
            let nonce = ring::aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
            let plain = key
                .open_in_place(nonce, ring::aead::Aad::from(SEALED_AAD), &mut data)
                .ok()?;
            String::from_utf8(plain.to_vec()).ok()
        })
    }

    /// The compact JWS of a booking event (typed `booket-event+jwt`: never a receipt or a
    /// link).
    pub fn sign_event(&self, event: &EventClaims) -> Option<String> {
        let claims = EventClaims {
            iss: self.issuer.clone(),
            ..event.clone()
        };
        self.signed(EVENT_TYPE, &claims, "a booking event")
    }

    /// The booking's own page for `link`: `<public URL>/booking/<token>`.
    pub fn link_url(&self, link: &LinkClaims) -> Option<String> {
        self.sign_link(link)
            .map(|token| format!("{}/booking/{token}", self.issuer))
    }

    /// What a link's token names, if this server signed it (with its current key or a
    /// configured retired one) and its slot has not ended at `now`. Anything else — not a
    /// JWS, another type or algorithm, a key it does not know, an altered payload, another
    /// issuer — is [`LinkError::Invalid`], and says nothing more.
    pub fn verify_link(&self, token: &str, now: DateTime<Utc>) -> Result<LinkClaims, LinkError> {
        crate::signing::ensure();
        let header = jsonwebtoken::decode_header(token).map_err(|_| LinkError::Invalid)?;
        if header.alg != Algorithm::ES256 || header.typ.as_deref() != Some(LINK_TYPE) {
            return Err(LinkError::Invalid);
        }
        let kid = header.kid.ok_or(LinkError::Invalid)?;
        let jwk = self
            .published
            .iter()
            .map(|p| &p.jwk)
            .find(|j| j.common.key_id.as_deref() == Some(kid.as_str()))
            .ok_or(LinkError::Invalid)?;
        let key = DecodingKey::from_jwk(jwk).map_err(|_| LinkError::Invalid)?;
        let mut v = jsonwebtoken::Validation::new(Algorithm::ES256);
        v.set_issuer(&[self.issuer.as_str()]);
        // The form is the caller's to check; the time is the injected clock's, not the
        // system's.
        v.validate_aud = false;
        v.validate_exp = false;
        v.required_spec_claims = ["exp", "iss"].iter().map(|c| c.to_string()).collect();
        let claims = jsonwebtoken::decode::<LinkClaims>(token, &key, &v)
            .map_err(|_| LinkError::Invalid)?
            .claims;
        if now.timestamp() >= claims.exp {
            return Err(LinkError::Outdated);
        }
        Ok(claims)
    }

    /// The keys a verifier needs at `now`: the current one and retired ones whose receipts
    /// may still be unexpired.
    pub fn jwks(&self, now: DateTime<Utc>) -> JwkSet {
        JwkSet {
            keys: self
                .published
                .iter()
                .filter(|p| p.retired_at.is_none_or(|at| now < at + self.lifetime))
                .map(|p| p.jwk.clone())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn receipt() -> Receipt {
        let start = chrono::FixedOffset::east_opt(3600)
            .unwrap()
            .with_ymd_and_hms(2026, 12, 7, 9, 0, 0)
            .unwrap();
        Receipt {
            slot_id: "v1.abc".into(),
            start,
            end: start + chrono::TimeDelta::minutes(30),
            calendar: "Borgerservice".into(),
            state: app::domain::ReceiptState::Booked,
            attachments: vec![],
            mail: None,
            jws: None,
        }
    }

    fn verify(jws: &str, set: &JwkSet, aud: &str) -> jsonwebtoken::errors::Result<ReceiptClaims> {
        let kid = jsonwebtoken::decode_header(jws)?.kid.unwrap_or_default();
        let jwk = set
            .find(&kid)
            .ok_or(jsonwebtoken::errors::ErrorKind::InvalidSignature)?;
        let mut v = jsonwebtoken::Validation::new(Algorithm::ES256);
        v.set_audience(&[aud]);
        v.set_issuer(&["https://booket.kommune.dk"]);
        v.validate_exp = false;
        jsonwebtoken::decode::<ReceiptClaims>(jws, &DecodingKey::from_jwk(jwk)?, &v)
            .map(|d| d.claims)
    }

    #[test]
    fn a_signed_receipt_verifies_with_the_published_key_and_not_when_altered() {
        let pem = generate_key_pem();
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap();
        let s = ReceiptSigner::new(
            &pem,
            &[],
            "https://booket.kommune.dk/",
            std::time::Duration::from_secs(86_400),
        )
        .unwrap();
        let jws = s.sign("ansoegning", "tid", "bk1", &receipt(), now).unwrap();
        let claims = verify(&jws, &s.jwks(now), "ansoegning").unwrap();
        assert_eq!(claims.jti, "bk1");
        assert_eq!(claims.iss, "https://booket.kommune.dk");
        assert_eq!(claims.state, "booked");
        assert_eq!(claims.start, "2026-12-07T09:00:00+01:00");
        assert_eq!(claims.exp - claims.iat, 86_400);
        assert!(verify(&jws, &s.jwks(now), "another-form").is_err());
        // Another payload under the same signature.
        let parts: Vec<&str> = jws.split('.').collect();
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = String::from_utf8(b64.decode(parts[1]).unwrap()).unwrap();
        let forged = b64.encode(payload.replace("09:00:00", "10:00:00"));
        let tampered = format!("{}.{}.{}", parts[0], forged, parts[2]);
        assert!(verify(&tampered, &s.jwks(now), "ansoegning").is_err());
    }

    fn link() -> LinkClaims {
        LinkClaims {
            iss: String::new(),
            aud: "ansoegning".into(),
            exp: Utc
                .with_ymd_and_hms(2026, 12, 7, 8, 30, 0)
                .unwrap()
                .timestamp(),
            jti: "bk1".into(),
            element: "tid".into(),
            calendar: "borgerservice".into(),
            event: "AAMk-event".into(),
            start: "2026-12-07T09:00:00+01:00".into(),
        }
    }

    fn signer(pem: &SecretString, previous: &[(SecretString, DateTime<Utc>)]) -> ReceiptSigner {
        let day = std::time::Duration::from_secs(86_400);
        ReceiptSigner::new(pem, previous, "https://booket.kommune.dk", day).unwrap()
    }

    #[test]
    fn a_link_names_its_booking_until_the_slot_ends() {
        let s = signer(&generate_key_pem(), &[]);
        let token = s.sign_link(&link()).unwrap();
        let before = Utc.with_ymd_and_hms(2026, 12, 7, 8, 29, 59).unwrap();
        let claims = s.verify_link(&token, before).unwrap();
        assert_eq!(
            claims,
            LinkClaims {
                iss: "https://booket.kommune.dk".into(),
                ..link()
            }
        );
        let ended = Utc.with_ymd_and_hms(2026, 12, 7, 8, 30, 0).unwrap();
        assert_eq!(s.verify_link(&token, ended), Err(LinkError::Outdated));
    }

    #[test]
    fn only_a_link_this_server_signed_is_taken() {
        let pem = generate_key_pem();
        let s = signer(&pem, &[]);
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap();
        let token = s.sign_link(&link()).unwrap();
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let parts: Vec<&str> = token.split('.').collect();
        // Another event under the same signature.
        let payload = String::from_utf8(b64.decode(parts[1]).unwrap()).unwrap();
        let forged = b64.encode(payload.replace("AAMk-event", "AAMk-other"));
        let altered = format!("{}.{}.{}", parts[0], forged, parts[2]);
        // A receipt is signed with the same key, but it is not a link.
        let receipt = s.sign("ansoegning", "tid", "bk1", &receipt(), now).unwrap();
        // A link's claims typed as a receipt, with this server's key.
        let mut as_receipt = Header::new(Algorithm::ES256);
        as_receipt.kid = Some(s.kid().to_owned());
        as_receipt.typ = Some("booket-receipt+jwt".into());
        let claims = LinkClaims {
            iss: "https://booket.kommune.dk".into(),
            ..link()
        };
        let mistyped = jsonwebtoken::encode(&as_receipt, &claims, &s.signing.key).unwrap();
        // The same claims from another server (another key), and one that names no key.
        let elsewhere = signer(&generate_key_pem(), &[]).sign_link(&link()).unwrap();
        let header = b64.encode(r#"{"alg":"ES256","typ":"booket-link+jwt"}"#);
        let no_kid = format!("{header}.{}.{}", parts[1], parts[2]);
        // Unsigned ("alg": "none").
        let none = format!(
            "{}.{}.",
            b64.encode(r#"{"alg":"none","typ":"booket-link+jwt"}"#),
            parts[1]
        );
        for bad in [
            altered.as_str(),
            receipt.as_str(),
            mistyped.as_str(),
            elsewhere.as_str(),
            no_kid.as_str(),
            none.as_str(),
            "",
            "not-a-token",
        ] {
            assert_eq!(s.verify_link(bad, now), Err(LinkError::Invalid), "{bad}");
        }
        // A link signed before a key change is still taken while the old key is listed.
        let renewed = signer(&generate_key_pem(), &[(pem, now)]);
        assert!(renewed.verify_link(&token, now).is_ok());
    }

    #[test]
    fn sealed_text_opens_only_with_this_servers_keys() {
        let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap();
        let (old, new) = (generate_key_pem(), generate_key_pem());
        let s = signer(&old, &[]);
        let sealed = s.seal("jens@example.dk").unwrap();
        assert!(!sealed.contains("jens"), "{sealed}");
        assert_ne!(
            s.seal("jens@example.dk").unwrap(),
            sealed,
            "a fresh nonce each time"
        );
        assert_eq!(s.open(&sealed).as_deref(), Some("jens@example.dk"));
        // Altered, or sealed with another key: nothing.
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(s.open(&String::from_utf8(altered).unwrap()), None);
        assert_eq!(signer(&new, &[]).open(&sealed), None);
        for junk in ["", "s1.", "s1.!!", "jens@example.dk", "s2.AAAA"] {
            assert_eq!(s.open(junk), None, "{junk}");
        }
        // After a rotation, the retired private key still opens what it sealed.
        let rotated = signer(&new, &[(old.clone(), t0)]);
        assert_eq!(rotated.open(&sealed).as_deref(), Some("jens@example.dk"));
    }

    #[test]
    fn retired_keys_stay_published_until_their_receipts_expire() {
        let old = generate_key_pem();
        let new = generate_key_pem();
        let day = std::time::Duration::from_secs(86_400);
        let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap();
        let before = ReceiptSigner::new(&old, &[], "https://booket.kommune.dk", day).unwrap();
        let issued = before.sign("f", "e", "bk", &receipt(), t0).unwrap();
        let after =
            ReceiptSigner::new(&new, &[(old.clone(), t0)], "https://booket.kommune.dk", day)
                .unwrap();
        assert_ne!(before.kid(), after.kid());
        let soon = t0 + chrono::TimeDelta::hours(23);
        assert_eq!(after.jwks(soon).keys.len(), 2);
        assert!(verify(&issued, &after.jwks(soon), "f").is_ok());
        let later = t0 + chrono::TimeDelta::hours(25);
        assert_eq!(after.jwks(later).keys.len(), 1);
        assert!(verify(&issued, &after.jwks(later), "f").is_err());
    }

    #[test]
    fn a_retired_key_may_be_given_as_its_public_key() {
        let old = generate_key_pem();
        let jwk = public_jwk(old.expose_secret()).unwrap();
        // The same key id from the private and the public form.
        let der = {
            // SubjectPublicKeyInfo of a P-256 key: the algorithm and curve, then the point.
            use base64::Engine;
            const P256_SPKI: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE";
            let jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(ec) = &jwk.algorithm else {
                panic!("not an EC key: {jwk:?}")
            };
            let x = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&ec.x)
                .unwrap();
            let y = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&ec.y)
                .unwrap();
            let mut spki = base64::engine::general_purpose::STANDARD
                .decode(P256_SPKI)
                .unwrap();
            spki.extend(x.iter().chain(&y));
            pem::encode(&pem::Pem::new("PUBLIC KEY", spki))
        };
        assert_eq!(public_jwk(&der).unwrap().common.key_id, jwk.common.key_id);
        assert!(check_signing_key(&SecretString::from("not a key".to_owned())).is_err());
    }
}
