//! NTLM logons for EWS (NTLMv2, [MS-NLMP]) and Extended Protection's channel binding.
//!
//! The messages themselves come from `ntlmclient`; Booket adds what Exchange Server 2019
//! CU14 and later ask for by default: the `MsvAvChannelBindings` pair (the MD5 of a
//! `gss_channel_bindings_struct` carrying RFC 5929's `tls-server-end-point` of the
//! certificate the connection was made to) and `MsvAvTargetName` (`HTTP/<host>`), inside the
//! NTLMv2 blob the password's HMAC covers — so a logon relayed to another TLS server does not
//! verify there. The simulator checks the same bytes (`sim/src/ntlm.rs`).
//!
//! (About 510 lines, half of them tests against [MS-NLMP]'s published examples.)

use crate::der::signature_algorithm;
use md5::{Digest, Md5};
use ntlmclient::{Credentials, Flags, Message, TargetInfoEntry, TargetInfoType};
use sha2::{Sha256, Sha384, Sha512};

/// What Booket asks for in its negotiate message: Unicode, NTLMv2 with extended session
/// security and target information.
fn negotiate_flags() -> Flags {
    Flags::NEGOTIATE_UNICODE
        | Flags::REQUEST_TARGET
        | Flags::NEGOTIATE_NTLM
        | Flags::NEGOTIATE_ALWAYS_SIGN
        | Flags::NEGOTIATE_NTLM2_KEY
        | Flags::NEGOTIATE_TARGET_INFO
        | Flags::NEGOTIATE_128BIT
        | Flags::NEGOTIATE_56BIT
}

/// The negotiate message (type 1) as sent (the MIC covers it).
pub fn negotiate_bytes() -> Vec<u8> {
    let message = Message::Negotiate(ntlmclient::NegotiateMessage {
        flags: negotiate_flags(),
        supplied_domain: String::new(),
        supplied_workstation: String::new(),
        os_version: Default::default(),
    });
    message.to_bytes().unwrap_or_default()
}

/// The negotiate message (type 1), as the `Authorization: NTLM …` header value.
pub fn negotiate() -> String {
    header(&negotiate_bytes())
}

/// A server's challenge: as read, and as it came (the MIC covers the bytes).
#[derive(Debug, Clone)]
pub struct Challenge {
    pub message: ntlmclient::ChallengeMessage,
    pub raw: Vec<u8>,
}

/// `MsvAvFlags` bit: the authenticate message carries a MIC ([MS-NLMP] 2.2.2.1).
pub const AV_FLAG_MIC: u32 = 0x2;
/// Where the MIC sits in an authenticate message: after the flags and the version.
pub const MIC_AT: std::ops::Range<usize> = 72..88;

/// The MIC: HMAC-MD5 under the exported session key (NTLMv2 without key exchange: the
/// session base key) of the three messages, the authenticate one with its MIC zeroed
/// ([MS-NLMP] 3.1.5.1.2).
pub fn mic(
    session_key: &[u8],
    negotiate: &[u8],
    challenge: &[u8],
    authenticate: &[u8],
) -> [u8; 16] {
    use hmac::{Hmac, Mac};
    let mut zeroed = authenticate.to_vec();
    if let Some(field) = zeroed.get_mut(MIC_AT) {
        field.fill(0);
    }
    let mut mac = <Hmac<Md5> as Mac>::new_from_slice(session_key).expect("HMAC takes any key");
    mac.update(negotiate);
    mac.update(challenge);
    mac.update(&zeroed);
    mac.finalize().into_bytes().into()
}

fn header(bytes: &[u8]) -> String {
    use base64::Engine;
    format!(
        "NTLM {}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The server's challenge (type 2) from the `WWW-Authenticate` values of a 401, if one of
/// them carries one.
pub fn challenge<'a>(www_authenticate: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
    use base64::Engine;
    www_authenticate.into_iter().find_map(|v| {
        let token = v.trim().strip_prefix("NTLM ")?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(token.trim())
            .ok()?;
        match Message::try_from(bytes.as_slice()).ok()? {
            Message::Challenge(message) => Some(Challenge {
                message,
                raw: bytes,
            }),
            _ => None,
        }
    })
}

/// The service account as NTLM names it: `DOMAIN\user` in `username` is split, a UPN
/// (`user@domain`) is sent whole with an empty domain.
pub fn credentials(username: &str, domain: Option<&str>, password: &str) -> Credentials {
    let (domain, username) = match (domain, username.split_once('\\')) {
        (Some(d), _) => (d.to_owned(), username.to_owned()),
        (None, Some((d, u))) => (d.to_owned(), u.to_owned()),
        (None, None) => (String::new(), username.to_owned()),
    };
    Credentials {
        username,
        password: password.to_owned(),
        domain,
    }
}

/// The most target information Booket answers (a real challenge carries a few hundred bytes;
/// the authenticate message's fields are limited to 64 KB).
const MAX_TARGET_INFO: usize = 8 * 1024;

/// The authenticate message (type 3) answering `challenge`, as the header value; `None` for
/// a challenge too large to answer. `binding`: the connection's channel binding hash (`None`
/// over plain HTTP); `host` names the service (`HTTP/<host>`); `now` is the NTLM time used
/// when the server sent none.
pub fn authenticate(
    challenge: &Challenge,
    creds: &Credentials,
    binding: Option<[u8; 16]>,
    host: &str,
    now: i64,
) -> Option<String> {
    let raw_challenge = &challenge.raw;
    let challenge = &challenge.message;
    let info: usize = challenge
        .target_information
        .iter()
        .map(|e| 4 + e.data.len())
        .sum();
    if info > MAX_TARGET_INFO || host.len() > 1024 {
        return None;
    }
    let mut server_time = None;
    let mut av_flags = AV_FLAG_MIC;
    let mut pairs: Vec<u8> = Vec::new();
    for entry in &challenge.target_information {
        match entry.entry_type {
            TargetInfoType::Terminator => break,
            // Booket states its own (a server never should).
            TargetInfoType::ChannelBindings | TargetInfoType::TargetName => continue,
            // The server's flags, with the MIC's added below.
            TargetInfoType::Flags => {
                if let Some(b) = entry.data.get(..4).and_then(|b| b.try_into().ok()) {
                    av_flags |= u32::from_le_bytes(b);
                }
                continue;
            }
            TargetInfoType::Timestamp => {
                server_time = entry.data.get(..8).and_then(|b| b.try_into().ok());
            }
            _ => {}
        }
        pairs.extend(entry.to_bytes());
    }
    // MsvAvFlags with the MIC bit: servers set to "require MIC" refuse a logon without.
    pairs.extend(
        TargetInfoEntry {
            entry_type: TargetInfoType::Flags,
            data: av_flags.to_le_bytes().to_vec(),
        }
        .to_bytes(),
    );
    pairs.extend(
        TargetInfoEntry::from_string(TargetInfoType::TargetName, &format!("HTTP/{host}"))
            .to_bytes(),
    );
    if let Some(hash) = binding {
        pairs.extend(
            TargetInfoEntry {
                entry_type: TargetInfoType::ChannelBindings,
                data: hash.to_vec(),
            }
            .to_bytes(),
        );
    }
    pairs.extend([0, 0, 0, 0]); // MsvAvEOL
    let time = server_time.map(i64::from_le_bytes).unwrap_or(now);
    let mut response =
        ntlmclient::respond_challenge_ntlm_v2(challenge.challenge, &pairs, time, creds);
    if server_time.is_some() {
        // [MS-NLMP] 3.1.5.1.2: with the server's timestamp, no LMv2 response.
        response.lm_response = vec![0; 24];
    }
    // No key exchange is negotiated, so EncryptedRandomSessionKey stays empty: the crate
    // would otherwise put the session base key there in the clear. That key (the exported
    // session key, without key exchange) signs the MIC.
    let session_key = std::mem::take(&mut response.session_key);
    let flags = (negotiate_flags() & challenge.flags) | Flags::NEGOTIATE_UNICODE;
    let message = response.to_message(creds, "BOOKET", flags);
    let mut bytes = message.to_bytes().ok()?;
    with_mic_field(&mut bytes)?;
    let mic = mic(&session_key, &negotiate_bytes(), raw_challenge, &bytes);
    bytes[MIC_AT].copy_from_slice(&mic);
    Some(header(&bytes))
}

/// Makes room for the MIC in an authenticate message as `ntlmclient` writes it (header,
/// flags and version, then the payload): 16 bytes after the version, and every payload
/// offset of its six security buffers moved on by as much.
fn with_mic_field(bytes: &mut Vec<u8>) -> Option<()> {
    if bytes.len() < MIC_AT.start {
        return None;
    }
    for field in 0..6 {
        let at = 12 + 8 * field + 4;
        let offset = u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?);
        bytes[at..at + 4].copy_from_slice(&(offset + MIC_AT.len() as u32).to_le_bytes());
    }
    bytes.splice(MIC_AT.start..MIC_AT.start, [0u8; 16]);
    Some(())
}

/// The NTLM time (100 ns since 1601) of `t`.
pub fn ntlm_time(t: chrono::DateTime<chrono::Utc>) -> i64 {
    const FROM_1601_TO_1970_SECS: i64 = 11_644_473_600;
    (t.timestamp() + FROM_1601_TO_1970_SECS) * 10_000_000
        + i64::from(t.timestamp_subsec_nanos() / 100)
}

/// The `MsvAvChannelBindings` value for a TLS connection to the server whose certificate
/// (DER) is `cert`: MD5 over a `gss_channel_bindings_struct` with no addresses and
/// `tls-server-end-point:<hash of cert>` as application data.
pub fn channel_binding(cert: &[u8]) -> [u8; 16] {
    let mut data = b"tls-server-end-point:".to_vec();
    data.extend(end_point_hash(cert));
    let mut bindings = Vec::with_capacity(20 + data.len());
    // initiator address type + length, acceptor address type + length: all none.
    bindings.extend([0u8; 16]);
    bindings.extend((data.len() as u32).to_le_bytes());
    bindings.extend(data);
    Md5::digest(&bindings).into()
}

/// RFC 5929 §4.1: the certificate hashed with its signature's hash function, SHA-256 when
/// that is MD5 or SHA-1 (or cannot be told).
fn end_point_hash(cert: &[u8]) -> Vec<u8> {
    // 1.2.840.113549.1.1.12 / .13 (RSA with SHA-384 / SHA-512),
    // 1.2.840.10045.4.3.3 / .4 (ECDSA with SHA-384 / SHA-512).
    const SHA384: [&[u8]; 2] = [
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c],
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03],
    ];
    const SHA512: [&[u8]; 2] = [
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d],
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04],
    ];
    match signature_algorithm(cert) {
        Some(oid) if SHA384.contains(&oid) => Sha384::digest(cert).to_vec(),
        Some(oid) if SHA512.contains(&oid) => Sha512::digest(cert).to_vec(),
        _ => Sha256::digest(cert).to_vec(),
    }
}

/// The AV pairs of an NTLMv2 response (after its 16-byte proof and 28-byte blob header),
/// up to `MsvAvEOL`.
pub fn response_pairs(ntlm_response: &[u8]) -> Vec<TargetInfoEntry> {
    let mut rest = ntlm_response.get(16 + 28..).unwrap_or_default();
    let mut pairs = Vec::new();
    while let Ok((entry, next)) = TargetInfoEntry::try_from_bytes(rest) {
        if entry.entry_type == TargetInfoType::Terminator {
            break;
        }
        pairs.push(entry);
        rest = next;
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};

    fn server_challenge(pairs: &[TargetInfoEntry]) -> Challenge {
        Challenge {
            message: ntlmclient::ChallengeMessage {
                target_name: "DEMO".into(),
                flags: negotiate_flags() | Flags::TARGET_TYPE_DOMAIN,
                challenge: [1, 2, 3, 4, 5, 6, 7, 8],
                context: (0, 0),
                target_information: pairs.to_vec(),
                os_version: Default::default(),
            },
            raw: b"the challenge as the server sent it".to_vec(),
        }
    }

    fn decode(header: &str) -> Message {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(header.strip_prefix("NTLM ").unwrap())
            .unwrap();
        Message::try_from(bytes.as_slice()).unwrap()
    }

    #[test]
    fn the_negotiate_message_asks_for_ntlmv2_with_target_information() {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(negotiate().strip_prefix("NTLM ").unwrap())
            .unwrap();
        assert_eq!(&bytes[..12], b"NTLMSSP\0\x01\0\0\0");
        let flags = Flags::from_bits_retain(u32::from_le_bytes(bytes[12..16].try_into().unwrap()));
        assert!(flags.contains(
            Flags::NEGOTIATE_UNICODE | Flags::NEGOTIATE_NTLM2_KEY | Flags::NEGOTIATE_TARGET_INFO
        ));
        assert!(!flags.contains(Flags::NEGOTIATE_KEY_EXCHANGE));
    }

    #[test]
    fn the_authenticate_message_carries_a_mic_over_all_three_messages() {
        use base64::Engine;
        let pairs = [
            TargetInfoEntry::from_string(TargetInfoType::NtDomain, "DEMO"),
            // A server's own flags are kept, with the MIC's added.
            TargetInfoEntry {
                entry_type: TargetInfoType::Flags,
                data: 0x1u32.to_le_bytes().to_vec(),
            },
        ];
        let challenge = server_challenge(&pairs);
        let creds = credentials("DEMO\\svc-booket", None, "pw");
        let header = authenticate(&challenge, &creds, None, "mail.demo", 0).unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(header.strip_prefix("NTLM ").unwrap())
            .unwrap();
        // Still an authenticate message whose fields read as before.
        let Message::Authenticate(a) = Message::try_from(bytes.as_slice()).unwrap() else {
            panic!("not an authenticate message")
        };
        assert_eq!(a.user_name, "svc-booket");
        let flags = response_pairs(&a.ntlm_response)
            .into_iter()
            .find(|p| p.entry_type == TargetInfoType::Flags)
            .map(|p| u32::from_le_bytes(p.data[..4].try_into().unwrap()));
        assert_eq!(flags, Some(0x1 | AV_FLAG_MIC));
        // The MIC, as a server recomputes it from the session base key.
        let key = ntlmclient::ntlm_v2_password_func(&creds);
        let mut mac = <Hmac<Md5> as Mac>::new_from_slice(&key).unwrap();
        mac.update(&a.ntlm_response[..16]);
        let session_key = mac.finalize().into_bytes();
        let expected = mic(&session_key, &negotiate_bytes(), &challenge.raw, &bytes);
        assert_eq!(&bytes[MIC_AT], &expected);
        // Over every byte: another challenge, or a changed byte, gives another MIC.
        assert_ne!(
            mic(&session_key, &negotiate_bytes(), b"other", &bytes),
            expected
        );
        let mut changed = bytes.clone();
        *changed.last_mut().unwrap() ^= 1;
        assert_ne!(
            mic(&session_key, &negotiate_bytes(), &challenge.raw, &changed),
            expected
        );
    }

    #[test]
    fn the_authenticate_message_proves_the_password_and_carries_the_binding() {
        let pairs = [
            TargetInfoEntry::from_string(TargetInfoType::NtDomain, "DEMO"),
            TargetInfoEntry {
                entry_type: TargetInfoType::Timestamp,
                data: 42i64.to_le_bytes().to_vec(),
            },
        ];
        let challenge = server_challenge(&pairs);
        let creds = credentials("DEMO\\svc-booket", None, "pw");
        assert_eq!(
            (creds.domain.as_str(), creds.username.as_str()),
            ("DEMO", "svc-booket")
        );
        let binding = [7u8; 16];
        let header = authenticate(&challenge, &creds, Some(binding), "mail.demo", 0).unwrap();
        let Message::Authenticate(a) = decode(&header) else {
            panic!("not an authenticate message")
        };
        assert_eq!(
            (a.user_name.as_str(), a.domain_name.as_str()),
            ("svc-booket", "DEMO")
        );
        // The proof is HMAC-MD5(NTOWFv2, challenge ‖ blob), as a server recomputes it.
        let key = ntlmclient::ntlm_v2_password_func(&creds);
        let mut mac = <Hmac<Md5> as Mac>::new_from_slice(&key).unwrap();
        mac.update(&challenge.message.challenge);
        mac.update(&a.ntlm_response[16..]);
        assert_eq!(
            mac.finalize().into_bytes().as_slice(),
            &a.ntlm_response[..16]
        );
        // The server's timestamp is the blob's; no LMv2 response beside it.
        assert_eq!(a.ntlm_response[16 + 8..16 + 16], 42i64.to_le_bytes());
        assert_eq!(a.lm_response, vec![0; 24]);
        assert!(a.session_key.is_empty(), "no session key travels");
        let sent = response_pairs(&a.ntlm_response);
        let find = |t| {
            sent.iter()
                .find(|p| p.entry_type == t)
                .map(|p| p.data.clone())
        };
        assert_eq!(
            find(TargetInfoType::ChannelBindings),
            Some(binding.to_vec())
        );
        assert_eq!(
            find(TargetInfoType::TargetName).map(|_| sent
                .iter()
                .find(|p| p.entry_type == TargetInfoType::TargetName)
                .unwrap()
                .to_string()
                .unwrap()),
            Some("HTTP/mail.demo".into())
        );
        assert!(find(TargetInfoType::NtDomain).is_some());
        // A wrong password gives another proof.
        let other = ntlmclient::ntlm_v2_password_func(&credentials("DEMO\\svc-booket", None, "px"));
        assert_ne!(key, other);
        // Without TLS, no binding is claimed.
        let plain = authenticate(&challenge, &creds, None, "mail.demo", 0).unwrap();
        // A challenge too large to answer is refused, not a panic.
        let huge = server_challenge(&[TargetInfoEntry {
            entry_type: TargetInfoType::Unknown(0x7f),
            data: vec![0; 60_000],
        }]);
        assert_eq!(authenticate(&huge, &creds, None, "mail.demo", 0), None);
        let Message::Authenticate(a) = decode(&plain) else {
            panic!("not an authenticate message")
        };
        assert!(response_pairs(&a.ntlm_response)
            .iter()
            .all(|p| p.entry_type != TargetInfoType::ChannelBindings));
    }

    #[test]
    fn the_binding_hashes_the_certificate_with_its_signature_hash() {
        // A skeleton certificate: SEQUENCE { SEQUENCE {}, SEQUENCE { OID }, BIT STRING }.
        let cert = |oid: &[u8]| {
            let mut alg = vec![0x06, oid.len() as u8];
            alg.extend(oid);
            let mut body = vec![0x30, 0x00, 0x30, alg.len() as u8];
            body.extend(alg);
            body.extend([0x03, 0x01, 0x00]);
            let mut c = vec![0x30, body.len() as u8];
            c.extend(body);
            c
        };
        let sha256_rsa = cert(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b]);
        let sha384_ecdsa = cert(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03]);
        let sha1_rsa = cert(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05]);
        assert_eq!(
            end_point_hash(&sha256_rsa),
            Sha256::digest(&sha256_rsa).to_vec()
        );
        assert_eq!(
            end_point_hash(&sha384_ecdsa),
            Sha384::digest(&sha384_ecdsa).to_vec()
        );
        assert_eq!(
            end_point_hash(&sha1_rsa),
            Sha256::digest(&sha1_rsa).to_vec()
        );
        assert_eq!(
            end_point_hash(b"not DER"),
            Sha256::digest(b"not DER").to_vec()
        );
        // The bindings struct: 16 zero bytes, the length, "tls-server-end-point:" + hash.
        let mut expected = vec![0u8; 16];
        let data = [
            b"tls-server-end-point:".as_slice(),
            &Sha256::digest(&sha256_rsa),
        ]
        .concat();
        expected.extend((data.len() as u32).to_le_bytes());
        expected.extend(&data);
        assert_eq!(
            channel_binding(&sha256_rsa),
            <[u8; 16]>::from(Md5::digest(&expected))
        );
        assert_ne!(channel_binding(&sha256_rsa), channel_binding(&sha1_rsa));
    }

    #[test]
    fn the_password_key_is_the_one_ms_nlmp_publishes() {
        // [MS-NLMP] 4.2.4.1.1: NTOWFv2("Password", "User", "Domain").
        let key =
            ntlmclient::ntlm_v2_password_func(&credentials("User", Some("Domain"), "Password"));
        assert_eq!(
            key,
            [
                0x0c, 0x86, 0x8a, 0x40, 0x3b, 0xfd, 0x7a, 0x93, 0xa3, 0x00, 0x1e, 0xf2, 0x2e, 0xf0,
                0x2e, 0x3f
            ]
        );
    }

    #[test]
    fn ntlm_time_counts_from_1601() {
        let t = chrono::DateTime::from_timestamp(0, 0).unwrap();
        assert_eq!(ntlm_time(t), 116_444_736_000_000_000);
    }
}
