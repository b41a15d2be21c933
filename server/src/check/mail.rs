//! The mail setup: token and the Mail.Send permission (no mail is sent).

use super::report::*;
use super::token::*;
use crate::config::MailConfig;
use crate::graph::GraphClient;
use app::i18n::Lang;
use secrecy::ExposeSecret;

pub(super) async fn check_mail(graph: &GraphClient, mail: &MailConfig, lang: Lang) -> Section {
    let title = t(lang, "Mail:", "Mail:");
    if let MailConfig::Ews { account, user, .. } = mail {
        return check_ews_mail(account, user, lang).await;
    }
    let (MailConfig::Graph { sender, user, .. }, Some(creds)) = (mail, mail.credentials()) else {
        return Section {
            title,
            lines: vec![pass(t(
                lang,
                "Slået fra (protocol = \"off\")",
                "Off (protocol = \"off\")",
            ))],
        };
    };
    let mut lines = vec![pass(t(lang, "Konfiguration gyldig", "Configuration valid"))];
    let Some(token) = token_check(graph, &creds, lang, &mut lines).await else {
        return Section { title, lines };
    };
    match token_roles(token.expose_secret()) {
        Some(roles) if roles.iter().any(|r| r == "Mail.Send") => {
            let shown_as = if sender.eq_ignore_ascii_case(user) {
                String::new()
            } else {
                format!(" ({} {sender})", t(lang, "vist som", "shown as"))
            };
            lines.push(pass(format!(
                "{} {user}{shown_as}",
                t(lang, "Tilladelsen Mail.Send er givet (aflæst af tokenets roles; der sendes ingen mail) — afsender", "The Mail.Send permission is granted (read from the token's roles; no mail is sent) — sending as"),
            )))
        }
        Some(_) => lines.push(fail(
            t(
                lang,
                "Tilladelsen Mail.Send mangler i tokenet",
                "The Mail.Send permission is missing from the token",
            ),
            t(
                lang,
                "Giv app'en Mail.Send (Application) og admin consent i Entra ID.",
                "Give the app Mail.Send (Application) and grant admin consent in Entra ID.",
            ),
        )),
        None => lines.push(unreadable_token(lang, "Mail.Send")),
    }
    Section { title, lines }
}

/// Mail through EWS: the service account logs on and may act for the sending mailbox (no
/// mail is sent).
async fn check_ews_mail(account: &crate::config::EwsAccount, user: &str, lang: Lang) -> Section {
    use crate::mailbox::Mailbox;
    let title = t(lang, "Mail (EWS):", "Mail (EWS):");
    let mut lines = vec![pass(t(lang, "Konfiguration gyldig", "Configuration valid"))];
    let client =
        match crate::ews::EwsClient::new(account.clone(), 1, std::time::Duration::from_secs(10)) {
            Ok(c) => c,
            Err(e) => {
                lines.push(fail(e.to_string(), String::new()));
                return Section { title, lines };
            }
        };
    let mailbox = crate::ews::EwsMailbox::new(std::sync::Arc::new(client), user);
    match mailbox.sign_in().await {
        Ok(()) => lines.push(pass(format!(
            "{} {user} {}",
            t(lang, "Tjenestekontoen når", "The service account reaches"),
            t(lang, "(der sendes ingen mail)", "(no mail is sent)")
        ))),
        Err(e) => lines.push(fail(
            e.to_string(),
            t(
                lang,
                "Tjek kalenderen i credentials_from_calendar og tjenestekontoens ret til at sende som user.",
                "Check the calendar in credentials_from_calendar and the service account's right to send as user.",
            ),
        )),
    }
    Section { title, lines }
}
