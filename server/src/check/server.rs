//! The server's own settings (who a citizen is behind a proxy, receipts) and least
//! privilege: every app refused on a mailbox outside the booking mailboxes.

use super::report::*;
use super::token::*;
use crate::config::{CalendarConfig, Config};
use crate::graph::{AppCredentials, GraphClient, GraphError};
use app::i18n::Lang;

/// How Booket tells citizens apart. Behind a reverse proxy (https in front, a loopback
/// listener) every citizen arrives from the proxy's address: without `trusted_proxies`
/// they would all share one budget.
pub(super) fn check_server(config: &Config, lang: Lang) -> Section {
    let server = &config.server;
    let header = match server.forwarded_header {
        crate::config::ForwardedHeader::XForwardedFor => "X-Forwarded-For",
        crate::config::ForwardedHeader::Forwarded => "Forwarded",
    };
    let line = if !server.trusted_proxies.is_empty() {
        pass(match lang {
            Lang::Da => format!(
                "Borgerens adresse læses af {header} fra {} betroede proxyer",
                server.trusted_proxies.len()
            ),
            Lang::En => format!(
                "The citizen's address is read from {header} sent by {} trusted proxies",
                server.trusted_proxies.len()
            ),
        })
    } else if server.public_url.starts_with("https://") && server.listen.ip().is_loopback() {
        warn(
            t(lang, "Booket lytter på loopback bag https, men trusted_proxies er tom: alle borgere deler proxyens adresse og dermed én kvote", "Booket listens on loopback behind https, but trusted_proxies is empty: every citizen shares the proxy's address and so one budget"),
            t(lang, "Sæt [server] trusted_proxies til proxyens adresse, fx [\"127.0.0.1\"], og lad proxyen sætte X-Forwarded-For.", "Set [server] trusted_proxies to the proxy's address, e.g. [\"127.0.0.1\"], and have the proxy set X-Forwarded-For."),
        )
    } else {
        pass(t(
            lang,
            "Borgerens adresse er forbindelsens (ingen betroede proxyer)",
            "The citizen's address is the connection's (no trusted proxies)",
        ))
    };
    let receipts = match &config.receipts.signing_key {
        Some(key) => match crate::receipts::ReceiptSigner::new(
            key,
            &config.receipts.previous_keys,
            &server.public_url,
            config.receipts.lifetime,
        ) {
            Ok(s) => pass(match lang {
                Lang::Da => format!("Kvitteringer signeres (ES256, nøgle-id {}); offentlige nøgler på {}/.well-known/jwks.json", s.kid(), server.public_url.trim_end_matches('/')),
                Lang::En => format!("Receipts are signed (ES256, key id {}); public keys at {}/.well-known/jwks.json", s.kid(), server.public_url.trim_end_matches('/')),
            }),
            Err(e) => fail(format!("[receipts] signing_key: {e}"), t(lang, "Angiv en P-256-nøgle i PKCS#8 PEM.", "Give a P-256 key in PKCS#8 PEM.")),
        },
        None => fail(
            t(lang, "Kvitteringer signeres ikke: formularens backend kan ikke skelne en rigtig booking fra en indtastet ([receipts] signing_key mangler; booket serve starter ikke uden)", "Receipts are not signed: the form's backend cannot tell a real booking from a typed one ([receipts] signing_key is missing; booket serve does not start without it)"),
            t(lang, "Lav en nøgle med `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out receipt-key.pem` og sæt [receipts] signing_key = { file = \"…\" }.", "Make a key with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out receipt-key.pem` and set [receipts] signing_key = { file = \"…\" }."),
        ),
    };
    Section {
        title: t(lang, "Server:", "Server:"),
        lines: vec![line, receipts],
    }
}

/// The distinct apps Booket signs in as (calendars and mail), each once.
fn apps_of(config: &Config) -> Vec<AppCredentials> {
    let mut apps: Vec<AppCredentials> = config
        .calendars
        .iter()
        .filter_map(CalendarConfig::credentials)
        .chain(config.mail.credentials())
        .collect();
    let mut seen = std::collections::HashSet::new();
    apps.retain(|a| seen.insert((a.tenant_id.to_lowercase(), a.client_id.to_lowercase())));
    apps
}

/// Least privilege: every app must be refused on `scope_probe_mailbox`, a mailbox outside
/// the booking mailboxes. Reading it means the permission is tenant-wide.
pub(super) async fn check_scope(graph: &GraphClient, config: &Config, lang: Lang) -> Section {
    let title = t(lang, "Mindste rettigheder:", "Least privilege:");
    let how = t(lang, "Begræns app'en til booking-postkasserne med Exchange Online RBAC for Applications (New-ManagementScope + New-ManagementRoleAssignment -App … -CustomResourceScope, og fjern den tenant-brede Calendars.ReadWrite-tilladelse i Entra ID) eller en application access policy (New-ApplicationAccessPolicy -AccessRight RestrictAccess). Se docs/operators/going-live.md.", "Limit the app to the booking mailboxes with Exchange Online RBAC for Applications (New-ManagementScope + New-ManagementRoleAssignment -App … -CustomResourceScope, and remove the tenant-wide Calendars.ReadWrite permission in Entra ID) or an application access policy (New-ApplicationAccessPolicy -AccessRight RestrictAccess). See docs/operators/going-live.md.");
    let apps = apps_of(config);
    if apps.is_empty() {
        // EWS service accounts are limited by their management scope (docs/operators/ews-setup.md); there is no Graph app to prove anything about.
        return Section {
            title,
            lines: vec![pass(t(
                lang,
                "Ingen Graph-app at begrænse: alle kalendere nås gennem EWS",
                "No Graph app to restrict: every calendar is reached through EWS",
            ))],
        };
    }
    let Some(probe) = &config.exchange.scope_probe_mailbox else {
        return Section {
            title,
            lines: vec![fail(
                t(lang, "Ikke eftervist: [exchange] scope_probe_mailbox er ikke sat", "Not verified: [exchange] scope_probe_mailbox is not set"),
                format!("{} {how}", t(lang, "Angiv en postkasse, som app'en IKKE må nå (fx en ledelsespostkasse), så check kan bevise begrænsningen.", "Name a mailbox the app must NOT reach (e.g. a management mailbox) so check can prove the restriction.")),
            )],
        };
    };
    let mut lines = Vec::new();
    for app in apps {
        let line = match graph.list_calendars(&app, probe).await {
            Err(GraphError::Forbidden { code }) => pass(match lang {
                Lang::Da => format!("App {} afvises i {probe} (403 {code}): den er begrænset til sine postkasser", app.client_id),
                Lang::En => format!("App {} is refused in {probe} (403 {code}): it is limited to its mailboxes", app.client_id),
            }),
            Ok(_) => fail(
                match lang {
                    Lang::Da => format!("App {} kan læse kalenderne i {probe}: tilladelsen gælder hele tenant'en", app.client_id),
                    Lang::En => format!("App {} can read the calendars of {probe}: the permission is tenant-wide", app.client_id),
                },
                how.clone(),
            ),
            Err(GraphError::NotFound { code }) => warn(
                match lang {
                    Lang::Da => format!("Kan ikke afgøre: {probe} findes ikke (404 {code})"),
                    Lang::En => format!("Cannot tell: {probe} does not exist (404 {code})"),
                },
                t(lang, "Angiv en eksisterende postkasse uden for app'ens område i scope_probe_mailbox.", "Name an existing mailbox outside the app's scope in scope_probe_mailbox."),
            ),
            Err(GraphError::TokenRefused(_)) => warn(
                t(lang, "Kan ikke afgøre: app'en fik intet token (se ovenfor)", "Cannot tell: the app got no token (see above)"),
                t(lang, "Ret token-fejlen og kør check igen.", "Fix the token error and run check again."),
            ),
            Err(e) => transient_line(lang, probe, &e),
        };
        lines.push(line);
    }
    Section { title, lines }
}
