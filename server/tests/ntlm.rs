//! Booket's NTLM client against the simulator's NTLM server, message by message: the MIC
//! is checked when sent and required where the server says so, Booket's negotiate asks for
//! extended session security, and a damaged challenge is refused without a panic.

use base64::Engine;
use ntlmclient::{Flags, TargetInfoEntry, TargetInfoType};
use server::ews::ntlm;
use server::sim::model::Faults;
use server::sim::ntlm::{challenge_message, negotiate_flags, Conn, Step, MIC_AT};
use server::sim::seed::*;
use server::sim::Simulator;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const CONN: Conn = Conn {
    id: 1,
    binding: None,
};

/// Negotiate and challenge on a fresh connection of the demo organisation.
fn challenged(require_mic: bool) -> (Simulator, ntlm::Challenge) {
    use chrono::TimeZone;
    let now = chrono::Utc
        .with_ymd_and_hms(2026, 11, 30, 10, 0, 0)
        .unwrap();
    let sim = Simulator::demo(now, Default::default());
    sim.set_faults(Faults {
        ews_require_mic: require_mic,
        ..Default::default()
    });
    let negotiate = ntlm::negotiate();
    let Step::Challenge(header) = sim.ntlm_step(CONN, negotiate.strip_prefix("NTLM ").unwrap())
    else {
        panic!("no challenge")
    };
    let challenge = ntlm::challenge([header.as_str()]).unwrap();
    (sim, challenge)
}

fn logon(sim: &Simulator, authenticate: &[u8]) -> bool {
    sim.ntlm_step(CONN, &B64.encode(authenticate)) == Step::LoggedOn
}

fn authenticate(challenge: &ntlm::Challenge) -> Vec<u8> {
    let creds = ntlm::credentials(DEMO_EWS_USER, Some(DEMO_EWS_DOMAIN), DEMO_EWS_PASSWORD);
    let header = ntlm::authenticate(challenge, &creds, None, "mail", 0).unwrap();
    B64.decode(header.strip_prefix("NTLM ").unwrap()).unwrap()
}

#[test]
fn a_mic_is_checked_when_sent_and_required_where_the_server_says() {
    // Booket's logon, with its MIC: taken, required or not.
    for required in [false, true] {
        let (sim, challenge) = challenged(required);
        assert!(
            logon(&sim, &authenticate(&challenge)),
            "required: {required}"
        );
        // The same message with one bit of its MIC changed is refused.
        let (sim, challenge) = challenged(required);
        let mut bytes = authenticate(&challenge);
        bytes[MIC_AT.start] ^= 1;
        assert!(!logon(&sim, &bytes), "a wrong MIC, required: {required}");
    }
    // A logon without MsvAvFlags and MIC (as ntlmclient alone writes it): taken, unless the
    // server requires a MIC.
    let creds = ntlm::credentials(DEMO_EWS_USER, Some(DEMO_EWS_DOMAIN), DEMO_EWS_PASSWORD);
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
        let response =
            ntlmclient::respond_challenge_ntlm_v2(challenge.message.challenge, &pairs, 0, &creds);
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
fn booket_asks_for_extended_session_security() {
    let negotiate = B64
        .decode(ntlm::negotiate().strip_prefix("NTLM ").unwrap())
        .unwrap();
    assert!(negotiate_flags(&negotiate)
        .unwrap()
        .contains(Flags::NEGOTIATE_NTLM2_KEY));
}

/// What Booket reads from a server's 401 — every truncation of a challenge and every byte
/// of it set to 0x00 or 0xff — is taken or refused, never a panic.
#[test]
fn a_damaged_challenge_is_refused_without_a_panic() {
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
        if let Some(c) = ntlm::challenge([format!("NTLM {}", B64.encode(bytes)).as_str()]) {
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
