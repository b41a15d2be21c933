//! The simulator's NTLM, as IIS in front of Exchange does it: per connection, a negotiate
//! message (type 1) is answered 401 with a challenge (type 2), and an authenticate message
//! (type 3) on the same connection is checked — the NTLMv2 proof recomputed from the service
//! account's password — after which the connection is the account's until it closes.
//! Extended Protection: with `ews_channel_binding` ("Require") a logon must carry the
//! `MsvAvChannelBindings` of the connection's TLS certificate, so NTLM over plain HTTP or
//! through something that re-encrypts is refused; without it ("Allow"), a binding that is
//! sent must still match.

// A refusal is a finished `Response` (the challenge), as in the EWS endpoint.
#![allow(clippy::result_large_err)]

use super::model::{ServiceAccount, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use md5::Md5;
use ntlmclient::{Flags, Message, TargetInfoEntry, TargetInfoType};
use subtle::ConstantTimeEq;

/// The connection a request came on (set by the simulator's accept loop).
#[derive(Debug, Clone, Copy)]
pub struct Conn {
    pub id: u64,
    /// The channel binding of the certificate it was made to (TLS only).
    pub binding: Option<[u8; 16]>,
}

/// What one NTLM step came to (`Simulator::ntlm_step`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A 401 with this `WWW-Authenticate` (the challenge).
    Challenge(String),
    LoggedOn,
    Refused,
}

/// Where a connection's NTLM logon stands.
#[derive(Debug, Clone)]
pub enum Logon {
    /// The server challenge, and the negotiate and challenge messages as they went (a MIC
    /// covers them).
    Challenged {
        challenge: [u8; 8],
        negotiate: Vec<u8>,
        sent: Vec<u8>,
    },
    /// The account (tenant id, user name) the connection belongs to.
    LoggedOn(String, String),
}

/// One NTLM step on `conn`: the challenge to send (as a finished 401), or the account the
/// connection now belongs to, or a refusal (`None`).
pub fn step(
    s: &mut State,
    conn: Conn,
    token: &str,
) -> Result<(String, ServiceAccount), Option<Response>> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .map_err(|_| None)?;
    if let Some(asked) = negotiate_flags(&bytes) {
        let mut challenge = [0u8; 8];
        getrandom::getrandom(&mut challenge).map_err(|_| None)?;
        let (answer, sent) = challenge_response(challenge, asked);
        s.ews_logons.insert(
            conn.id,
            Logon::Challenged {
                challenge,
                negotiate: bytes,
                sent,
            },
        );
        s.stats.ews_unauthorized += 1;
        return Err(Some(answer));
    }
    match Message::try_from(bytes.as_slice()).map_err(|_| None)? {
        Message::Authenticate(a) => {
            let Some(Logon::Challenged {
                challenge,
                negotiate,
                sent,
            }) = s.ews_logons.remove(&conn.id)
            else {
                return Err(None);
            };
            let messages = [negotiate.as_slice(), sent.as_slice(), bytes.as_slice()];
            let (tenant, account) = verify(s, &a, challenge, messages, conn).ok_or(None)?;
            s.stats.ews_logons += 1;
            s.ews_logons.insert(
                conn.id,
                Logon::LoggedOn(tenant.clone(), account.username.clone()),
            );
            Ok((tenant, account))
        }
        _ => Err(None),
    }
}

/// The account a connection logged on as, while it has not been forgotten.
pub(super) fn session(s: &State, conn: Conn) -> Option<(String, ServiceAccount)> {
    let Some(Logon::LoggedOn(tenant, user)) = s.ews_logons.get(&conn.id) else {
        return None;
    };
    let t = s.tenants.iter().find(|t| &t.id == tenant)?;
    let a = t.service_accounts.iter().find(|a| &a.username == user)?;
    Some((tenant.clone(), a.clone()))
}

/// The authenticate message's proof and binding checked, for the account it names.
fn verify(
    s: &State,
    a: &ntlmclient::AuthenticateMessage,
    challenge: [u8; 8],
    [negotiate, sent, authenticate]: [&[u8]; 3],
    conn: Conn,
) -> Option<(String, ServiceAccount)> {
    let response = &a.ntlm_response;
    if response.len() < 16 + 28 {
        return None; // NTLMv1, or nothing: not accepted
    }
    // `user@domain` may come whole with an empty domain.
    let name = a.user_name.split('@').next().unwrap_or_default();
    let (tenant, account) = s.tenants.iter().find_map(|t| {
        t.service_accounts
            .iter()
            .find(|x| {
                x.username.eq_ignore_ascii_case(name)
                    && (a.domain_name.is_empty() || x.domain.eq_ignore_ascii_case(&a.domain_name))
            })
            .map(|x| (t.id.clone(), x.clone()))
    })?;
    let key = ntlmclient::ntlm_v2_password_func(&ntlmclient::Credentials {
        username: a.user_name.clone(),
        password: account.password.clone(),
        domain: a.domain_name.clone(),
    });
    if !bool::from(proof(&key, challenge, &response[16..]).ct_eq(&response[..16])) {
        return None;
    }
    let pairs = response_pairs(response);
    // A MIC the client says it sent must verify ([MS-NLMP] 3.2.5.1.2); one it did not send
    // is refused where the server requires it (the fault `ews_require_mic`).
    let av_flags = pairs
        .iter()
        .find(|p| p.entry_type == TargetInfoType::Flags)
        .and_then(|p| p.data.get(..4)?.try_into().ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0);
    if av_flags & AV_FLAG_MIC != 0 {
        let mut mac = <Hmac<Md5> as Mac>::new_from_slice(&key).expect("HMAC takes any key");
        mac.update(&response[..16]);
        let session_key = mac.finalize().into_bytes();
        let expected = mic(&session_key, negotiate, sent, authenticate);
        let given = authenticate.get(MIC_AT)?;
        if !bool::from(given.ct_eq(&expected)) {
            return None;
        }
    } else if s.faults.ews_require_mic {
        return None;
    }
    let sent = pairs
        .into_iter()
        .find(|p| p.entry_type == TargetInfoType::ChannelBindings)
        .map(|p| p.data)
        .filter(|d| d.iter().any(|&b| b != 0));
    let bound = match (&sent, conn.binding) {
        (Some(sent), Some(expected)) => sent.as_slice() == expected,
        (Some(_), None) => false,
        (None, _) => !s.faults.ews_channel_binding,
    };
    bound.then_some((tenant, account))
}

/// The flags of a negotiate message (type 1). Read here rather than by `ntlmclient`, whose
/// parser wants 4 bytes more than the message has.
pub fn negotiate_flags(bytes: &[u8]) -> Option<Flags> {
    if bytes.len() < 16 || &bytes[..12] != b"NTLMSSP\0\x01\0\0\0" {
        return None;
    }
    let flags = u32::from_le_bytes(bytes[12..16].try_into().ok()?);
    Some(Flags::from_bits_retain(flags))
}

/// A challenge message (type 2) per [MS-NLMP] 2.2.1.2, written here: `ntlmclient` writes
/// its reserved field into the payload.
pub fn challenge_message(
    challenge: [u8; 8],
    flags: Flags,
    target_info: &[TargetInfoEntry],
) -> Vec<u8> {
    const HEADER: u32 = 56;
    let name: Vec<u8> = "DEMO".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let info: Vec<u8> = target_info
        .iter()
        .flat_map(TargetInfoEntry::to_bytes)
        .collect();
    let field = |len: usize, offset: u32| {
        let mut f = (len as u16).to_le_bytes().repeat(2);
        f.extend(offset.to_le_bytes());
        f
    };
    let mut m = b"NTLMSSP\0\x02\0\0\0".to_vec();
    m.extend(field(name.len(), HEADER));
    m.extend(flags.bits().to_le_bytes());
    m.extend(challenge);
    m.extend([0u8; 8]); // reserved
    m.extend(field(info.len(), HEADER + name.len() as u32));
    m.extend([10, 0, 0x63, 0x45, 0, 0, 0, 15]); // version: 10.0.17763, NTLM revision 15
    m.extend(name);
    m.extend(info);
    m
}

/// NTProofStr ([MS-NLMP] 3.3.2): HMAC-MD5 under NTOWFv2 of the server's challenge and the
/// client's blob.
fn proof(key: &[u8; 16], challenge: [u8; 8], blob: &[u8]) -> [u8; 16] {
    let mut mac = <Hmac<Md5> as Mac>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(&challenge);
    mac.update(blob);
    mac.finalize().into_bytes().into()
}

/// 401 with the challenge: the demo domain's names and the server's time; and the
/// challenge message as sent.
fn challenge_response(challenge: [u8; 8], asked: Flags) -> (Response, Vec<u8>) {
    let now = filetime(chrono::Utc::now());
    let flags = (asked
        & (Flags::NEGOTIATE_NTLM
            | Flags::NEGOTIATE_ALWAYS_SIGN
            | Flags::NEGOTIATE_NTLM2_KEY
            | Flags::NEGOTIATE_128BIT
            | Flags::NEGOTIATE_56BIT))
        | Flags::NEGOTIATE_UNICODE
        | Flags::REQUEST_TARGET
        | Flags::TARGET_TYPE_DOMAIN
        | Flags::NEGOTIATE_TARGET_INFO
        | Flags::NEGOTIATE_VERSION;
    let pairs = [
        TargetInfoEntry::from_string(TargetInfoType::NtDomain, "DEMO"),
        TargetInfoEntry::from_string(TargetInfoType::NtServer, "MAIL"),
        TargetInfoEntry::from_string(TargetInfoType::DnsDomain, "demo.booket.dk"),
        TargetInfoEntry::from_string(TargetInfoType::DnsServer, "mail.demo.booket.dk"),
        TargetInfoEntry {
            entry_type: TargetInfoType::Timestamp,
            data: now.to_le_bytes().to_vec(),
        },
        TargetInfoEntry {
            entry_type: TargetInfoType::Terminator,
            data: Vec::new(),
        },
    ];
    use base64::Engine;
    let sent = challenge_message(challenge, flags, &pairs);
    let token = base64::engine::general_purpose::STANDARD.encode(&sent);
    let mut r = StatusCode::UNAUTHORIZED.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("NTLM {token}")) {
        r.headers_mut().insert("www-authenticate", v);
    }
    (r, sent)
}

/// The NTLM token of an `Authorization: NTLM …` header.
pub(super) fn token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("NTLM ")
}

/// `MsvAvFlags` bit 0x2: the authenticate message carries a MIC ([MS-NLMP] 2.2.2.1).
const AV_FLAG_MIC: u32 = 0x2;
/// Where the MIC sits in an authenticate message ([MS-NLMP] 2.2.1.3: after the version).
pub const MIC_AT: std::ops::Range<usize> = 72..88;

/// The AV pairs of an NTLMv2 response: after its 16-byte proof and the 28 bytes of the
/// blob's header, up to `MsvAvEOL` ([MS-NLMP] 2.2.2.7).
fn response_pairs(response: &[u8]) -> Vec<TargetInfoEntry> {
    let mut pairs = Vec::new();
    let mut rest = response.get(44..).unwrap_or_default();
    while let Ok((entry, next)) = TargetInfoEntry::try_from_bytes(rest) {
        if entry.entry_type == TargetInfoType::Terminator {
            break;
        }
        pairs.push(entry);
        rest = next;
    }
    pairs
}

/// The MIC the client should have sent: HMAC-MD5 under the session key of negotiate,
/// challenge and authenticate (its MIC zeroed), [MS-NLMP] 3.1.5.1.2.
fn mic(session_key: &[u8], negotiate: &[u8], challenge: &[u8], authenticate: &[u8]) -> [u8; 16] {
    let mut mac = <Hmac<Md5> as Mac>::new_from_slice(session_key).expect("HMAC takes any key");
    mac.update(negotiate);
    mac.update(challenge);
    mac.update(authenticate.get(..MIC_AT.start).unwrap_or(authenticate));
    if authenticate.len() >= MIC_AT.end {
        mac.update(&[0u8; 16]);
        mac.update(&authenticate[MIC_AT.end..]);
    }
    mac.finalize().into_bytes().into()
}

/// 100-nanosecond ticks since 1601-01-01 (a Windows FILETIME), for `MsvAvTimestamp`.
fn filetime(t: chrono::DateTime<chrono::Utc>) -> i64 {
    let since_1601 = t - chrono::DateTime::<chrono::Utc>::from_timestamp(-11_644_473_600, 0)
        .expect("1601 is a valid time");
    since_1601.num_microseconds().unwrap_or(0) * 10
}

/// The `MsvAvChannelBindings` a client must send over TLS to a server with certificate
/// `cert` (DER): MD5 of the `gss_channel_bindings_struct` with no addresses and
/// `tls-server-end-point:` + the certificate's hash as application data (RFC 5929 §4,
/// RFC 2744 §3.11). The hash is SHA-384 or SHA-512 when the certificate is signed with it,
/// else SHA-256.
pub fn channel_binding(cert: &[u8]) -> [u8; 16] {
    use sha2::Digest;
    let hash = match signed_with(cert) {
        Some(384) => sha2::Sha384::digest(cert).to_vec(),
        Some(512) => sha2::Sha512::digest(cert).to_vec(),
        _ => sha2::Sha256::digest(cert).to_vec(),
    };
    let application_data = [b"tls-server-end-point:".as_slice(), &hash].concat();
    let mut gss = vec![0u8; 16];
    gss.extend((application_data.len() as u32).to_le_bytes());
    gss.extend(application_data);
    <Md5 as md5::Digest>::digest(&gss).into()
}

/// The SHA-2 size of the certificate's signature algorithm, when it names one of 384 or
/// 512 bits (RSA or ECDSA).
fn signed_with(cert: &[u8]) -> Option<u16> {
    /// One DER element: (tag, contents, what follows).
    fn element(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, b) = b.split_first()?;
        let (&len, b) = b.split_first()?;
        let (len, b) = match len {
            n if n < 0x80 => (usize::from(n), b),
            n => {
                let bytes = usize::from(n & 0x7f);
                let (size, b) = (b.get(..bytes)?, b.get(bytes..)?);
                (size.iter().fold(0, |a, &x| a << 8 | usize::from(x)), b)
            }
        };
        Some((tag, b.get(..len)?, b.get(len..)?))
    }
    let (_, certificate, _) = element(cert)?;
    let (_, _tbs, after) = element(certificate)?;
    let (_, algorithm, _) = element(after)?;
    let (0x06, oid, _) = element(algorithm)? else {
        return None;
    };
    match oid {
        // sha384WithRSAEncryption, ecdsa-with-SHA384
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c]
        | [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03] => Some(384),
        // sha512WithRSAEncryption, ecdsa-with-SHA512
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d]
        | [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04] => Some(512),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proof_is_the_one_ms_nlmp_publishes() {
        // [MS-NLMP] 4.2.4: User / Domain / Password, server challenge 0123456789abcdef,
        // client challenge aa…aa, time 0, AV pairs NbDomainName "Domain", NbComputerName
        // "Server"; NTProofStr 68cd0ab851e51c96aabc927bebef6a1c (4.2.4.2.2).
        let key = ntlmclient::ntlm_v2_password_func(&ntlmclient::Credentials {
            username: "User".into(),
            password: "Password".into(),
            domain: "Domain".into(),
        });
        let mut blob = vec![1, 1, 0, 0, 0, 0, 0, 0];
        blob.extend([0u8; 8]); // time
        blob.extend([0xaa; 8]);
        blob.extend([0u8; 4]);
        blob.extend(TargetInfoEntry::from_string(TargetInfoType::NtDomain, "Domain").to_bytes());
        blob.extend(TargetInfoEntry::from_string(TargetInfoType::NtServer, "Server").to_bytes());
        blob.extend([0u8; 4]); // MsvAvEOL
        blob.extend([0u8; 4]);
        assert_eq!(
            proof(
                &key,
                [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef],
                &blob
            ),
            [
                0x68, 0xcd, 0x0a, 0xb8, 0x51, 0xe5, 0x1c, 0x96, 0xaa, 0xbc, 0x92, 0x7b, 0xeb, 0xef,
                0x6a, 0x1c
            ]
        );
    }

    #[test]
    fn the_challenge_is_read_back_as_written_and_is_no_negotiate_message() {
        let pairs = [
            TargetInfoEntry::from_string(TargetInfoType::NtDomain, "DEMO"),
            TargetInfoEntry {
                entry_type: TargetInfoType::Terminator,
                data: Vec::new(),
            },
        ];
        let bytes = challenge_message([9; 8], Flags::NEGOTIATE_UNICODE, &pairs);
        let Ok(Message::Challenge(c)) = Message::try_from(bytes.as_slice()) else {
            panic!("not read as a challenge")
        };
        assert_eq!(c.challenge, [9; 8]);
        assert_eq!(c.target_name, "DEMO");
        assert_eq!(c.target_information, pairs.to_vec());
        assert_eq!(negotiate_flags(&bytes), None);
    }

    #[test]
    fn the_time_counts_from_1601_and_the_mic_covers_all_but_itself() {
        let epoch = chrono::DateTime::<chrono::Utc>::from_timestamp(0, 0).unwrap();
        assert_eq!(filetime(epoch), 116_444_736_000_000_000);
        let authenticate: Vec<u8> = (0..100).collect();
        let mut other_mic = authenticate.clone();
        other_mic[MIC_AT.start] ^= 1;
        let mut other_byte = authenticate.clone();
        other_byte[MIC_AT.end] ^= 1;
        let m = |a: &[u8]| mic(b"key", b"n", b"c", a);
        assert_eq!(m(&authenticate), m(&other_mic));
        assert_ne!(m(&authenticate), m(&other_byte));
    }
}
