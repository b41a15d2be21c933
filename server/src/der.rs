//! The few DER structures Booket reads itself (ITU-T X.690): the outer shape of an X.509
//! certificate, enough to tell a certificate from other PEM contents (`ews_ca_file`) and
//! to name its signature algorithm (EWS channel binding hashes the certificate with that
//! algorithm's hash, RFC 5929 §4.1), and an RSA public key's two integers (RFC 8017 A.1.1)
//! for the JWK of a Graph app's certificate.

/// Whether `der` has the outer shape of an X.509 certificate.
pub fn is_certificate(der: &[u8]) -> bool {
    signature_algorithm(der).is_some()
}

/// The OID of a certificate's outer `signatureAlgorithm`:
/// `SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm SEQUENCE { OID, … }, … }`.
pub fn signature_algorithm(cert: &[u8]) -> Option<&[u8]> {
    let (0x30, certificate, _) = element(cert)? else {
        return None;
    };
    let (0x30, _, rest) = element(certificate)? else {
        return None;
    };
    let (0x30, algorithm, _) = element(rest)? else {
        return None;
    };
    match element(algorithm)? {
        (0x06, oid, _) => Some(oid),
        _ => None,
    }
}

/// One DER element: its tag, its content and what follows it.
pub fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, &b| (a << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`: (n, e) as
/// unsigned big-endian bytes.
pub fn rsa_public_key(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (0x30, key, _) = element(der)? else {
        return None;
    };
    let (0x02, n, rest) = element(key)? else {
        return None;
    };
    let (0x02, e, _) = element(rest)? else {
        return None;
    };
    let unsigned = |i: &[u8]| i.strip_prefix(&[0]).unwrap_or(i).to_vec();
    Some((unsigned(n), unsigned(e)))
}
