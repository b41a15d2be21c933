//! The mail setup: token and the Mail.Send permission (no mail is sent).

use super::report::*;
use super::token::*;
use crate::config::MailConfig;
use crate::graph::GraphClient;
use app::i18n::Lang;
use secrecy::ExposeSecret;

pub(super) async fn check_mail(graph: &GraphClient, mail: &MailConfig, lang: Lang) -> Section {
    let title = t(lang, "Mail:", "Mail:");
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
