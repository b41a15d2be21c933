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
use crate::ews::ntlm;
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
pub(super) fn step(
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
    let pairs = ntlm::response_pairs(response);
    // A MIC the client says it sent must verify ([MS-NLMP] 3.2.5.1.2); one it did not send
    // is refused where the server requires it (the fault `ews_require_mic`).
    let av_flags = pairs
        .iter()
        .find(|p| p.entry_type == TargetInfoType::Flags)
        .and_then(|p| p.data.get(..4)?.try_into().ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0);
    if av_flags & ntlm::AV_FLAG_MIC != 0 {
        let mut mac = <Hmac<Md5> as Mac>::new_from_slice(&key).expect("HMAC takes any key");
        mac.update(&response[..16]);
        let session_key = mac.finalize().into_bytes();
        let expected = ntlm::mic(&session_key, negotiate, sent, authenticate);
        let given = authenticate.get(ntlm::MIC_AT)?;
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
fn negotiate_flags(bytes: &[u8]) -> Option<Flags> {
    if bytes.len() < 16 || &bytes[..12] != b"NTLMSSP\0\x01\0\0\0" {
        return None;
    }
    let flags = u32::from_le_bytes(bytes[12..16].try_into().ok()?);
    Some(Flags::from_bits_retain(flags))
}

/// A challenge message (type 2) per [MS-NLMP] 2.2.1.2, written here: `ntlmclient` writes
/// its reserved field into the payload.
fn challenge_message(challenge: [u8; 8], flags: Flags, target_info: &[TargetInfoEntry]) -> Vec<u8> {
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
    let now = ntlm::ntlm_time(chrono::Utc::now());
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Negotiate and challenge on a fresh connection of the demo organisation; returns the
    /// simulator and the challenge.
    fn challenged(require_mic: bool) -> (super::super::Simulator, ntlm::Challenge) {
        use chrono::TimeZone;
        let sim = super::super::Simulator::demo(
            chrono::Utc
                .with_ymd_and_hms(2026, 11, 30, 10, 0, 0)
                .unwrap(),
            Default::default(),
        );
        sim.lock().faults.ews_require_mic = require_mic;
        let negotiate = ntlm::negotiate();
        let Err(Some(answer)) = step(
            &mut sim.lock(),
            Conn {
                id: 1,
                binding: None,
            },
            negotiate.strip_prefix("NTLM ").unwrap(),
        ) else {
            panic!("no challenge")
        };
        let header = answer.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        let challenge = ntlm::challenge([header.as_str()]).unwrap();
        (sim, challenge)
    }

    fn logon(sim: &super::super::Simulator, authenticate: &[u8]) -> bool {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(authenticate);
        step(
            &mut sim.lock(),
            Conn {
                id: 1,
                binding: None,
            },
            &token,
        )
        .is_ok()
    }

    #[test]
    fn a_mic_is_checked_when_sent_and_required_where_the_server_says() {
        use super::super::seed::*;
        use base64::Engine;
        let creds = ntlm::credentials(DEMO_EWS_USER, Some(DEMO_EWS_DOMAIN), DEMO_EWS_PASSWORD);
        // Booket's logon, with its MIC: taken, required or not.
        for required in [false, true] {
            let (sim, challenge) = challenged(required);
            let header = ntlm::authenticate(&challenge, &creds, None, "mail", 0).unwrap();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(header.strip_prefix("NTLM ").unwrap())
                .unwrap();
            assert!(logon(&sim, &bytes), "required: {required}");
            // The same message with one bit of its MIC changed is refused.
            let (sim, challenge) = challenged(required);
            let header = ntlm::authenticate(&challenge, &creds, None, "mail", 0).unwrap();
            let mut bytes = base64::engine::general_purpose::STANDARD
                .decode(header.strip_prefix("NTLM ").unwrap())
                .unwrap();
            bytes[ntlm::MIC_AT.start] ^= 1;
            assert!(!logon(&sim, &bytes), "a wrong MIC, required: {required}");
        }
        // A logon without MsvAvFlags and MIC (as ntlmclient alone writes it): taken, unless
        // the server requires a MIC.
        for required in [false, true] {
            let (sim, challenge) = challenged(required);
            let mut pairs: Vec<u8> = challenge
                .message
                .target_information
                .iter()
                .take_while(|e| e.entry_type != TargetInfoType::Terminator)
                .flat_map(|e| e.to_bytes())
                .collect();
            pairs.extend([0, 0, 0, 0]);
            let response = ntlmclient::respond_challenge_ntlm_v2(
                challenge.message.challenge,
                &pairs,
                0,
                &creds,
            );
            let bytes = response
                .to_message(
                    &creds,
                    "OLD",
                    Flags::NEGOTIATE_UNICODE | Flags::NEGOTIATE_NTLM,
                )
                .to_bytes()
                .unwrap();
            assert_eq!(logon(&sim, &bytes), !required, "required: {required}");
        }
    }

    #[test]
    fn the_proof_is_the_one_ms_nlmp_publishes() {
        // [MS-NLMP] 4.2.4: User / Domain / Password, server challenge 0123456789abcdef,
        // client challenge aa…aa, time 0, AV pairs NbDomainName "Domain", NbComputerName
        // "Server"; NTProofStr 68cd0ab851e51c96aabc927bebef6a1c (4.2.4.2.2).
        let key = ntlmclient::ntlm_v2_password_func(&ntlm::credentials(
            "User",
            Some("Domain"),
            "Password",
        ));
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
    fn the_challenge_is_read_back_as_written() {
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
        let negotiate = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(ntlm::negotiate().strip_prefix("NTLM ").unwrap())
                .unwrap()
        };
        assert!(negotiate_flags(&negotiate)
            .unwrap()
            .contains(Flags::NEGOTIATE_NTLM2_KEY));
        assert_eq!(
            negotiate_flags(&bytes),
            None,
            "a challenge is not a negotiate message"
        );
    }

    /// What Booket reads from a server's 401 — every truncation of a challenge and every
    /// byte of it set to 0x00 or 0xff — is taken or refused, never a panic.
    #[test]
    fn a_damaged_challenge_is_refused_without_a_panic() {
        use base64::Engine;
        let pairs = [
            TargetInfoEntry::from_string(TargetInfoType::NtDomain, "DEMO"),
            TargetInfoEntry {
                entry_type: TargetInfoType::Timestamp,
                data: 7i64.to_le_bytes().to_vec(),
            },
            TargetInfoEntry {
                entry_type: TargetInfoType::Terminator,
                data: Vec::new(),
            },
        ];
        let good = challenge_message([3; 8], Flags::NEGOTIATE_UNICODE, &pairs);
        let creds = ntlm::credentials("svc", Some("DEMO"), "pw");
        let header = |b: &[u8]| {
            format!(
                "NTLM {}",
                base64::engine::general_purpose::STANDARD.encode(b)
            )
        };
        let mut taken = 0;
        let mut cases: Vec<Vec<u8>> = (0..good.len()).map(|n| good[..n].to_vec()).collect();
        for at in 0..good.len() {
            for value in [0x00, 0xff] {
                let mut b = good.clone();
                b[at] = value;
                cases.push(b);
            }
        }
        for bytes in &cases {
            if let Some(c) = ntlm::challenge([header(bytes).as_str()]) {
                taken += 1;
                // Whatever was read can be answered.
                let _ = ntlm::authenticate(&c, &creds, None, "mail", 0);
            }
        }
        assert!(
            taken > 0 && taken < cases.len(),
            "{taken} of {}",
            cases.len()
        );
    }
}
