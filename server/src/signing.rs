//! The three JWS algorithms Booket uses, for `jsonwebtoken`, on `ring` (which TLS already
//! brings): ES256 signs and verifies receipts, HS256 verifies citizens' session tokens (and
//! signs them in tests), PS256 signs a Graph app's client assertion. Every other algorithm
//! is refused. `jsonwebtoken`'s own RustCrypto backend would bring RSA, P-256, P-384 and
//! Ed25519 in a second generation of the RustCrypto crates for these three.
//!
//! [`ensure`] installs the provider; every module that signs or verifies calls it first.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind, Result};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PSS_SHA256,
};

/// Installs the provider for this process (once; later calls do nothing).
pub fn ensure() {
    let _ = PROVIDER.install_default();
}

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: rsa_components_of_private,
        rsa_pub_components_from_public_key: rsa_components_of_public,
        ec_pub_components_from_private_key: ec_components_of_private,
        ed_pub_components_from_private_key: |_, _| Err(ErrorKind::InvalidAlgorithm.into()),
        compute_digest: digest,
    },
};

fn refused() -> signature::Error {
    signature::Error::new()
}

/// What signs: the key's bytes as `jsonwebtoken` keeps them.
enum Signing {
    Es256(EcdsaKeyPair),
    Hs256(ring::hmac::Key),
    Ps256(RsaKeyPair),
}

impl Signer<Vec<u8>> for Signing {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        let rng = SystemRandom::new();
        match self {
            Signing::Es256(key) => key
                .sign(&rng, msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| refused()),
            Signing::Hs256(key) => Ok(ring::hmac::sign(key, msg).as_ref().to_vec()),
            Signing::Ps256(key) => {
                let mut out = vec![0; key.public().modulus_len()];
                key.sign(&RSA_PSS_SHA256, &rng, msg, &mut out)
                    .map_err(|_| refused())?;
                Ok(out)
            }
        }
    }
}

impl JwtSigner for Signing {
    fn algorithm(&self) -> Algorithm {
        match self {
            Signing::Es256(_) => Algorithm::ES256,
            Signing::Hs256(_) => Algorithm::HS256,
            Signing::Ps256(_) => Algorithm::PS256,
        }
    }
}

fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    let invalid = |kind: ErrorKind| Error::from(kind);
    let signing = match (algorithm, key.family()) {
        (Algorithm::ES256, AlgorithmFamily::Ec) => Signing::Es256(
            EcdsaKeyPair::from_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                key.as_bytes(),
                &SystemRandom::new(),
            )
            .map_err(|_| invalid(ErrorKind::InvalidEcdsaKey))?,
        ),
        (Algorithm::HS256, AlgorithmFamily::Hmac) => Signing::Hs256(ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            key.as_bytes(),
        )),
        (Algorithm::PS256, AlgorithmFamily::Rsa) => Signing::Ps256(
            RsaKeyPair::from_der(key.as_bytes())
                .map_err(|e| invalid(ErrorKind::InvalidRsaKey(e.to_string())))?,
        ),
        (Algorithm::ES256 | Algorithm::HS256 | Algorithm::PS256, _) => {
            return Err(invalid(ErrorKind::InvalidKeyFormat))
        }
        _ => return Err(invalid(ErrorKind::InvalidAlgorithm)),
    };
    Ok(Box::new(signing))
}

/// What verifies.
enum Verifying {
    Es256(Vec<u8>),
    Hs256(ring::hmac::Key),
}

impl Verifier<Vec<u8>> for Verifying {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        match self {
            Verifying::Es256(point) => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(msg, signature)
                .map_err(|_| refused()),
            Verifying::Hs256(key) => ring::hmac::verify(key, msg, signature).map_err(|_| refused()),
        }
    }
}

impl JwtVerifier for Verifying {
    fn algorithm(&self) -> Algorithm {
        match self {
            Verifying::Es256(_) => Algorithm::ES256,
            Verifying::Hs256(_) => Algorithm::HS256,
        }
    }
}

fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    let verifying = match (algorithm, key.family(), key.kind()) {
        (Algorithm::ES256, AlgorithmFamily::Ec, DecodingKeyKind::SecretOrDer(point)) => {
            Verifying::Es256(point.clone())
        }
        (Algorithm::HS256, AlgorithmFamily::Hmac, DecodingKeyKind::SecretOrDer(secret)) => {
            Verifying::Hs256(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret))
        }
        (Algorithm::ES256 | Algorithm::HS256, _, _) => {
            return Err(ErrorKind::InvalidKeyFormat.into())
        }
        _ => return Err(ErrorKind::InvalidAlgorithm.into()),
    };
    Ok(Box::new(verifying))
}

/// An RSA private key (PKCS#1 DER)'s public (n, e).
fn rsa_components_of_private(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let key = RsaKeyPair::from_der(der).map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?;
    let c = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(key.public());
    Ok((c.n, c.e))
}

/// An RSA public key (PKCS#1 `RSAPublicKey` DER)'s (n, e).
fn rsa_components_of_public(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    crate::der::rsa_public_key(der)
        .ok_or_else(|| ErrorKind::InvalidRsaKey("not an RSAPublicKey".into()).into())
}

/// A P-256 private key (PKCS#8 DER)'s public point as (curve, x, y).
fn ec_components_of_private(
    der: &[u8],
    algorithm: Algorithm,
) -> Result<(EllipticCurve, Vec<u8>, Vec<u8>)> {
    if algorithm != Algorithm::ES256 {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new())
        .map_err(|_| ErrorKind::InvalidEcdsaKey)?;
    match key.public_key().as_ref() {
        [4, point @ ..] if point.len() == 64 => {
            let (x, y) = point.split_at(32);
            Ok((EllipticCurve::P256, x.to_vec(), y.to_vec()))
        }
        _ => Err(ErrorKind::InvalidEcdsaKey.into()),
    }
}

fn digest(data: &[u8], hash: ThumbprintHash) -> Result<Vec<u8>> {
    let algorithm = match hash {
        ThumbprintHash::SHA256 => &ring::digest::SHA256,
        ThumbprintHash::SHA384 => &ring::digest::SHA384,
        ThumbprintHash::SHA512 => &ring::digest::SHA512,
        _ => return Err(ErrorKind::InvalidAlgorithm.into()),
    };
    Ok(ring::digest::digest(algorithm, data).as_ref().to_vec())
}

/// A fresh P-256 private key, PKCS#8 DER.
pub fn generate_p256_pkcs8() -> Vec<u8> {
    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .expect("the system's random source is available")
        .as_ref()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{decode, encode, Header, Validation};

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Claims {
        sub: String,
        exp: u64,
    }

    fn claims() -> Claims {
        Claims {
            sub: "borger".into(),
            exp: 4_000_000_000,
        }
    }

    #[test]
    fn es256_and_hs256_sign_and_verify_and_a_changed_token_does_not() {
        ensure();
        let pkcs8 = generate_p256_pkcs8();
        let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8));
        let key = EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
        let public = DecodingKey::from_jwk(&jwk).unwrap();
        let token = encode(&Header::new(Algorithm::ES256), &claims(), &key).unwrap();
        let v = Validation::new(Algorithm::ES256);
        assert_eq!(
            decode::<Claims>(&token, &public, &v).unwrap().claims,
            claims()
        );
        // Another token's claims under this token's signature.
        let other = Claims {
            sub: "en anden".into(),
            ..claims()
        };
        let other = encode(&Header::new(Algorithm::ES256), &other, &key).unwrap();
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let (other_signed, _) = other.rsplit_once('.').unwrap();
        assert_ne!(signed, other_signed);
        let forged = format!("{other_signed}.{signature}");
        assert!(decode::<Claims>(&forged, &public, &v).is_err());

        let secret = [7u8; 32];
        let token = encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(&secret).unwrap(),
        )
        .unwrap();
        let v = Validation::new(Algorithm::HS256);
        let right = DecodingKey::from_secret(&secret).unwrap();
        let wrong = DecodingKey::from_secret(&[8u8; 32]).unwrap();
        assert!(decode::<Claims>(&token, &right, &v).is_ok());
        assert!(decode::<Claims>(&token, &wrong, &v).is_err());
    }

    #[test]
    fn algorithms_booket_does_not_use_are_refused() {
        ensure();
        let key = EncodingKey::from_secret(&[7u8; 32]).unwrap();
        for alg in [Algorithm::HS384, Algorithm::RS256, Algorithm::EdDSA] {
            assert!(
                encode(&Header::new(alg), &claims(), &key).is_err(),
                "{alg:?}"
            );
        }
        // A token whose header names another algorithm than the one asked for is refused
        // before any key is used.
        let token = encode(&Header::new(Algorithm::HS256), &claims(), &key).unwrap();
        let public = DecodingKey::from_secret(&[7u8; 32]).unwrap();
        assert!(decode::<Claims>(&token, &public, &Validation::new(Algorithm::HS384)).is_err());
    }

    #[test]
    fn an_rsa_public_key_is_read_as_its_two_integers() {
        // SEQUENCE { INTEGER 0x00c5 (leading zero dropped), INTEGER 0x010001 }
        let der = [
            0x30, 0x09, 0x02, 0x02, 0x00, 0xc5, 0x02, 0x03, 0x01, 0x00, 0x01,
        ];
        assert_eq!(
            rsa_components_of_public(&der).unwrap(),
            (vec![0xc5], vec![0x01, 0x00, 0x01])
        );
        assert!(rsa_components_of_public(&der[..5]).is_err());
    }
}
