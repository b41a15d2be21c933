//! `booket check`: diagnoses every configured calendar and the mail setup against the real
//! endpoints, one line per check with a hint on how to fix what fails.

use crate::booking::hold::{HoldInfo, HOLD_PROPERTY};
use crate::config::{CalendarConfig, Config, ExchangeConfig, MailConfig};
use crate::graph::wire::Event;
use crate::graph::{AppCredentials, GraphClient, GraphError, GraphOptions, TokenRefusal};
use app::domain::rules::{marker_of, Marker};
use app::domain::week::monday_of;
use base64::Engine;
use chrono::{DateTime, Days, Utc};
use secrecy::ExposeSecret;

pub mod conformance;

/// The report's language: the widget's own `Lang` (one for the whole product).
pub use app::i18n::Lang;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    /// Cannot tell from here, or works but deserves a look; does not fail the check.
    Warn,
    Fail,
}

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct Line {
    pub status: Status,
    pub text: String,
    /// How to fix it, or how to verify by hand (failed and warned checks).
    pub hint: Option<String>,
}

impl Line {
    /// Not a failure (passed or warned).
    pub fn ok(&self) -> bool {
        self.status != Status::Fail
    }
}

#[derive(Debug, Clone)]
pub struct Section {
    pub title: String,
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub sections: Vec<Section>,
}

impl Report {
    pub fn all_ok(&self) -> bool {
        self.sections.iter().all(|s| s.lines.iter().all(Line::ok))
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for s in &self.sections {
            out.push_str(&s.title);
            out.push('\n');
            for l in &s.lines {
                out.push_str(match l.status {
                    Status::Pass => "  ✓ ",
                    Status::Warn => "  ! ",
                    Status::Fail => "  ✗ ",
                });
                out.push_str(&l.text);
                out.push('\n');
                if let Some(h) = &l.hint {
                    out.push_str("      → ");
                    out.push_str(h);
                    out.push('\n');
                }
            }
        }
        out
    }
}

fn t(lang: Lang, da: &str, en: &str) -> String {
    match lang {
        Lang::Da => da.to_owned(),
        Lang::En => en.to_owned(),
    }
}

fn pass(text: String) -> Line {
    Line {
        status: Status::Pass,
        text,
        hint: None,
    }
}

fn warn(text: String, hint: String) -> Line {
    Line {
        status: Status::Warn,
        text,
        hint: Some(hint),
    }
}

fn fail(text: String, hint: String) -> Line {
    Line {
        status: Status::Fail,
        text,
        hint: Some(hint),
    }
}

/// What a token refusal most likely means, and how to fix it.
fn token_line(lang: Lang, r: &TokenRefusal) -> Line {
    let code = r
        .codes
        .first()
        .map(|c| format!("AADSTS{c}"))
        .unwrap_or_else(|| r.error.clone());
    let has = |c: u32| r.codes.contains(&c);
    let (what, fix) = if has(7_000_215) {
        (
            t(lang, "hemmeligheden er forkert — ofte er portalens \"Secret ID\" indsat i stedet for \"Value\"", "the client secret is wrong — often the portal's \"Secret ID\" was pasted instead of its \"Value\""),
            t(lang, "Kopiér hemmelighedens \"Value\" (vises kun ved oprettelsen) fra Entra ID → App registrations → Certificates & secrets, og læg den i client_secret.", "Copy the secret's \"Value\" (shown only when created) from Entra ID → App registrations → Certificates & secrets into client_secret."),
        )
    } else if has(7_000_222) {
        (
            t(
                lang,
                "hemmeligheden er udløbet",
                "the client secret has expired",
            ),
            t(
                lang,
                "Opret en ny client secret i Entra ID og opdatér client_secret.",
                "Create a new client secret in Entra ID and update client_secret.",
            ),
        )
    } else if has(700_016) {
        (
            t(lang, "app'en (client_id) findes ikke i denne tenant", "the app (client_id) does not exist in this tenant"),
            t(lang, "Tjek client_id (Application ID) og tenant_id på app'ens oversigtsside i Entra ID.", "Check client_id (Application ID) and tenant_id on the app's overview page in Entra ID."),
        )
    } else if has(90_002) || has(900_023) {
        (
            t(lang, "tenant'en blev ikke fundet", "the tenant was not found"),
            t(lang, "Tjek tenant_id (Directory ID, en GUID eller et verificeret domæne) og login_base_url (sky).", "Check tenant_id (Directory ID, a GUID or a verified domain) and login_base_url (cloud)."),
        )
    } else if has(70_011) || has(1_002_012) {
        (
            t(lang, "scope er ugyldigt", "the scope is invalid"),
            t(lang, "Sæt [exchange] graph_scope til Graph-ressourcen for jeres sky (fx https://graph.microsoft.com/.default) — ikke adressen på en gateway.", "Set [exchange] graph_scope to the Graph resource of your cloud (e.g. https://graph.microsoft.com/.default) — not the address of a gateway."),
        )
    } else if has(700_027) {
        (
            t(lang, "certifikatet er ikke det, der er registreret på app'en, eller nøglen hører ikke til det", "the certificate is not the one registered on the app, or the key does not belong to it"),
            t(lang, "Upload certifikatets offentlige del (.cer/.pem) under Entra ID → App registrations → Certificates & secrets → Certificates, og tjek at certificate og certificate_key peger på det og dets nøgle.", "Upload the certificate's public part (.cer/.pem) under Entra ID → App registrations → Certificates & secrets → Certificates, and check that certificate and certificate_key point to it and its key."),
        )
    } else if has(700_024) {
        (
            t(lang, "klientpåstanden er uden for sit gyldige tidsrum — maskinens ur går forkert", "the client assertion is outside its valid time range — this machine's clock is off"),
            t(lang, "Synkronisér uret (NTP, fx chrony eller systemd-timesyncd) og prøv igen.", "Synchronise the clock (NTP, e.g. chrony or systemd-timesyncd) and try again."),
        )
    } else if has(1_000_502) {
        (
            t(lang, "certifikatet er uden for sin gyldighedsperiode (udløbet)", "the certificate is outside its validity window (expired)"),
            t(lang, "Lav et nyt certifikat, upload det i Entra ID, og opdatér certificate og certificate_key; behold det gamle registreret, til skiftet er sket.", "Make a new certificate, upload it in Entra ID and update certificate and certificate_key; keep the old one registered until the switch is done."),
        )
    } else if has(50_012) {
        (
            t(lang, "klientpåstanden blev afvist", "the client assertion was refused"),
            t(lang, "Tjek tenant_id og login_base_url (skyen): påstanden skal være til netop det token-endpoint.", "Check tenant_id and login_base_url (the cloud): the assertion must be for exactly that token endpoint."),
        )
    } else if has(7_000_218) {
        (
            t(
                lang,
                "der blev ikke sendt nogen hemmelighed",
                "no client secret was sent",
            ),
            t(lang, "Sæt client_secret.", "Set client_secret."),
        )
    } else {
        (
            t(
                lang,
                "token-anmodningen blev afvist",
                "the token request was refused",
            ),
            t(
                lang,
                "Tjek tenant_id, client_id og client_secret.",
                "Check tenant_id, client_id and client_secret.",
            ),
        )
    };
    fail(
        format!("{}: {what} ({code})", t(lang, "Token", "Token")),
        fix,
    )
}

fn transient_line(lang: Lang, what: &str, e: &GraphError) -> Line {
    fail(
        format!("{what}: {e}"),
        t(
            lang,
            "Tjek netværket og graph_base_url/login_base_url, og prøv igen.",
            "Check the network and graph_base_url/login_base_url, and try again.",
        ),
    )
}

/// The `roles` claim of a Graph access token (its JWT payload), if it can be read.
pub fn token_roles(token: &str) -> Option<Vec<String>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(
        v.get("roles")?
            .as_array()?
            .iter()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect(),
    )
}

/// Gets a token and adds the line saying how that went; `None` ends the section.
async fn token_check(
    graph: &GraphClient,
    creds: &AppCredentials,
    lang: Lang,
    lines: &mut Vec<Line>,
) -> Option<secrecy::SecretString> {
    match graph.token(creds).await {
        Ok(tok) => {
            lines.push(pass(format!(
                "{} (tenant {}, app {})",
                t(lang, "Token hentet", "Token obtained"),
                creds.tenant_id,
                creds.client_id
            )));
            Some(tok)
        }
        Err(GraphError::TokenRefused(r)) => {
            lines.push(token_line(lang, &r));
            None
        }
        Err(e) => {
            lines.push(transient_line(lang, "Token", &e));
            None
        }
    }
}

fn creds_of(cal: &CalendarConfig) -> AppCredentials {
    AppCredentials {
        tenant_id: cal.tenant_id.clone(),
        client_id: cal.client_id.clone(),
        credential: cal.credential.clone(),
    }
}

async fn check_calendar(
    graph: &GraphClient,
    cal: &CalendarConfig,
    exchange: &ExchangeConfig,
    lang: Lang,
    now: DateTime<Utc>,
) -> Section {
    let mut lines = vec![pass(t(lang, "Konfiguration gyldig", "Configuration valid"))];
    let title = format!("{} \"{}\":", t(lang, "Kalender", "Calendar"), cal.name);
    let creds = creds_of(cal);
    let Some(token) = token_check(graph, &creds, lang, &mut lines).await else {
        return Section { title, lines };
    };
    match token_roles(token.expose_secret()) {
        Some(roles) if !roles.iter().any(|r| r == "Calendars.ReadWrite") => {
            lines.push(fail(
                t(lang, "Tilladelsen Calendars.ReadWrite mangler i tokenet", "The Calendars.ReadWrite permission is missing from the token"),
                t(lang, "Giv app'en Calendars.ReadWrite (Application) og admin consent i Entra ID.", "Give the app Calendars.ReadWrite (Application) and grant admin consent in Entra ID."),
            ));
        }
        Some(_) => {}
        // Microsoft documents access tokens as opaque to clients: not reading it is no fault.
        None => lines.push(unreadable_token(lang, "Calendars.ReadWrite")),
    }
    let calendars = match graph.list_calendars(&creds, &cal.owner).await {
        Ok(c) => {
            lines.push(pass(format!(
                "{} {} {}",
                t(lang, "Postkassen", "Mailbox"),
                cal.owner,
                t(lang, "kan nås", "is reachable")
            )));
            c
        }
        Err(GraphError::Forbidden { code }) => {
            lines.push(fail(
                format!("{} {}: {} (403 {code})", t(lang, "Postkassen", "Mailbox"), cal.owner, t(lang, "adgang nægtet — en application access policy udelukker formentlig postkassen, eller tilladelsen mangler", "access denied — an application access policy probably keeps the app out of it, or the permission is missing")),
                t(lang, "Tilføj postkassen til gruppen i app'ens New-ApplicationAccessPolicy og tjek med Test-ApplicationAccessPolicy (ændringer kan tage over en time).", "Add the mailbox to the group in the app's New-ApplicationAccessPolicy and verify with Test-ApplicationAccessPolicy (changes can take over an hour)."),
            ));
            return Section { title, lines };
        }
        Err(GraphError::NotFound { .. }) => {
            lines.push(fail(
                format!(
                    "{} {}: {}",
                    t(lang, "Postkassen", "Mailbox"),
                    cal.owner,
                    t(lang, "findes ikke", "does not exist")
                ),
                t(
                    lang,
                    "Tjek owner: brugerens UPN (fx navn@kommune.dk) eller objekt-id.",
                    "Check owner: the user's UPN (e.g. name@municipality.dk) or object id.",
                ),
            ));
            return Section { title, lines };
        }
        Err(e) => {
            lines.push(transient_line(lang, &t(lang, "Postkassen", "Mailbox"), &e));
            return Section { title, lines };
        }
    };
    let matching: Vec<&crate::graph::wire::Calendar> = calendars
        .iter()
        .filter(|c| c.name == cal.outlook_calendar)
        .collect();
    let names: Vec<&str> = calendars.iter().map(|c| c.name.as_str()).collect();
    let calendar_id = match matching.as_slice() {
        [one] => {
            lines.push(pass(format!(
                "{} \"{}\" {}",
                t(lang, "Outlook-kalenderen", "Outlook calendar"),
                cal.outlook_calendar,
                t(lang, "fundet (præcis én)", "found (exactly one)")
            )));
            one.id.clone()
        }
        [] => {
            lines.push(fail(
                format!(
                    "{} \"{}\" {}; {}: {}",
                    t(lang, "Outlook-kalenderen", "Outlook calendar"),
                    cal.outlook_calendar,
                    t(lang, "findes ikke", "not found"),
                    t(lang, "fundet", "found"),
                    names.join(", ")
                ),
                t(
                    lang,
                    "Sæt outlook_calendar til kalenderens navn præcis som Outlook viser det.",
                    "Set outlook_calendar to the calendar's name exactly as Outlook shows it.",
                ),
            ));
            return Section { title, lines };
        }
        many => {
            lines.push(fail(
                format!(
                    "{} \"{}\" {} {} {}",
                    t(lang, "Outlook-kalendernavnet", "Outlook calendar name"),
                    cal.outlook_calendar,
                    t(lang, "passer på", "matches"),
                    many.len(),
                    t(lang, "kalendere", "calendars")
                ),
                t(
                    lang,
                    "Omdøb de andre kalendere i Outlook, så navnet er entydigt.",
                    "Rename the other calendars in Outlook so the name is unique.",
                ),
            ));
            return Section { title, lines };
        }
    };
    let monday = monday_of(now.with_timezone(&cal.time_zone).date_naive());
    let start = crate::booking::local_midnight(cal.time_zone, monday);
    let end = crate::booking::local_midnight(cal.time_zone, monday + Days::new(7));
    match graph
        .calendar_view(&creds, &cal.owner, &calendar_id, start, end, HOLD_PROPERTY)
        .await
    {
        Ok(events) => lines.push(pass(format!(
            "{} ({} {})",
            t(lang, "Kalendervisning læst", "Calendar view read"),
            events.len(),
            t(lang, "begivenheder i denne uge", "events this week")
        ))),
        Err(e) => {
            lines.push(transient_line(
                lang,
                &t(lang, "Kalendervisning", "Calendar view"),
                &e,
            ));
            return Section { title, lines };
        }
    }
    let end = crate::booking::local_midnight(
        cal.time_zone,
        monday + Days::new(7 * exchange.hold_sweep_weeks),
    );
    match graph
        .calendar_view(&creds, &cal.owner, &calendar_id, start, end, HOLD_PROPERTY)
        .await
    {
        Ok(events) => lines.push(stuck_holds_line(lang, cal, exchange, &events, now)),
        Err(e) => lines.push(transient_line(lang, &t(lang, "Reservationer", "Holds"), &e)),
    }
    Section { title, lines }
}

/// Lapsed holds still standing well after the sweep should have given them back: each
/// keeps a time from citizens, and may carry an unfinished booking's documents.
fn stuck_holds_line(
    lang: Lang,
    cal: &CalendarConfig,
    exchange: &ExchangeConfig,
    events: &[Event],
    now: DateTime<Utc>,
) -> Line {
    let sweep = chrono::TimeDelta::from_std(exchange.hold_sweep).unwrap_or_default();
    let grace = (sweep * 3).max(chrono::TimeDelta::minutes(2));
    let stuck: Vec<(&Event, HoldInfo)> = events
        .iter()
        .filter(|e| {
            marker_of(e.subject.as_deref().unwrap_or(""), &exchange.markers)
                == Some(Marker::Reserved)
        })
        .filter_map(|e| Some((e, e.property(HOLD_PROPERTY).and_then(HoldInfo::parse)?)))
        .filter(|(_, h)| h.expires + grace < now)
        .collect();
    let Some((first, _)) = stuck.first() else {
        return pass(t(
            lang,
            "Ingen udløbne reservationer hænger",
            "No lapsed holds are left standing",
        ));
    };
    let with_files = stuck.iter().filter(|(_, h)| !h.files.is_empty()).count();
    let when = crate::graph::wire::to_utc(&first.start)
        .map(|d| {
            d.with_timezone(&cal.time_zone)
                .format("%d.%m.%Y %H:%M")
                .to_string()
        })
        .unwrap_or_default();
    let text = match lang {
        Lang::Da => format!("{} udløbne reservationer er ikke givet tilbage ({with_files} med en ufærdig bookings filer), den første kl. {when}", stuck.len()),
        Lang::En => format!("{} lapsed holds have not been given back ({with_files} with an unfinished booking's files), the first at {when}", stuck.len()),
    };
    if exchange.hold_sweep.is_zero() {
        return warn(
            text,
            t(lang, "Oprydningen er slået fra (hold_sweep_seconds = 0): tiderne kan bookes, men filerne bliver liggende, til nogen vælger tiden. Sæt hold_sweep_seconds, fx 60.", "The sweep is off (hold_sweep_seconds = 0): the times can be booked, but the files stay until someone picks the time. Set hold_sweep_seconds, e.g. 60."),
        );
    }
    fail(
        text,
        t(lang, "Oprydningen kan ikke fjerne filerne eller give tiden tilbage: se booket_holds_stuck i /metrics og serverens log (\"could not remove files of a lapsed hold\"). Tjek at Booket kører, og at app'en har Calendars.ReadWrite.", "The sweep cannot remove the files or give the time back: see booket_holds_stuck in /metrics and the server log (\"could not remove files of a lapsed hold\"). Check that Booket is running and that the app has Calendars.ReadWrite."),
    )
}

async fn check_mail(graph: &GraphClient, mail: &MailConfig, lang: Lang) -> Section {
    let title = t(lang, "Mail:", "Mail:");
    let MailConfig::Graph {
        tenant_id,
        client_id,
        credential,
        sender,
        user,
    } = mail
    else {
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
    let creds = AppCredentials {
        tenant_id: tenant_id.clone(),
        client_id: client_id.clone(),
        credential: credential.clone(),
    };
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

/// "Cannot tell": the token's permissions cannot be read (Microsoft documents access tokens
/// as opaque to clients), with how to verify `permission` by hand.
fn unreadable_token(lang: Lang, permission: &str) -> Line {
    warn(
        match lang {
            Lang::Da => format!("Kan ikke afgøre om {permission} er givet: tokenet kan ikke læses (Microsoft beskriver access tokens som uigennemsigtige for klienter)"),
            Lang::En => format!("Cannot tell whether {permission} is granted: the token cannot be read (Microsoft documents access tokens as opaque to clients)"),
        },
        match lang {
            Lang::Da => format!("Tjek i Entra ID → App registrations → Booket → API permissions, at Microsoft Graph {permission} (type Application) står med \"Granted for …\" (admin consent)."),
            Lang::En => format!("In Entra ID → App registrations → Booket → API permissions, check that Microsoft Graph {permission} (type Application) shows \"Granted for …\" (admin consent)."),
        },
    )
}

/// How Booket tells citizens apart. Behind a reverse proxy (https in front, a loopback
/// listener) every citizen arrives from the proxy's address: without `trusted_proxies`
/// they would all share one budget.
fn check_server(config: &Config, lang: Lang) -> Section {
    let server = &config.server;
    let header = match server.forwarded_header {
        crate::clients::ForwardedHeader::XForwardedFor => "X-Forwarded-For",
        crate::clients::ForwardedHeader::Forwarded => "Forwarded",
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

/// The Graph client a check uses (a short retry budget: an administrator is waiting).
fn graph_for(config: &Config, lang: Lang) -> Result<GraphClient, Report> {
    GraphClient::new(GraphOptions {
        graph_base_url: config.exchange.graph_base_url.clone(),
        login_base_url: config.exchange.login_base_url.clone(),
        scope: config.exchange.graph_scope.clone(),
        max_concurrency: config.exchange.max_concurrency,
        retry_budget: std::time::Duration::from_secs(5),
    })
    .map_err(|e| Report {
        sections: vec![Section {
            title: "Graph:".into(),
            lines: vec![transient_line(lang, "HTTP", &e)],
        }],
    })
}

/// What `booket check --conformance` was asked to do.
#[derive(Debug, Clone)]
pub struct ConformanceRequest {
    /// The scratch calendar's name in Outlook.
    pub calendar: String,
    /// Its mailbox (default: the first configured calendar's).
    pub owner: Option<String>,
    /// Also send one mail from the sending mailbox to itself.
    pub send_mail: bool,
}

/// Runs the conformance check on the scratch calendar with the app of the configured
/// calendar in the same mailbox (else the first calendar's app).
pub async fn run_conformance(
    config: &Config,
    req: &ConformanceRequest,
    lang: Lang,
    now: DateTime<Utc>,
) -> (Report, Option<conformance::Outcome>) {
    let graph = match graph_for(config, lang) {
        Ok(g) => g,
        Err(r) => return (r, None),
    };
    let Some(first) = config.calendars.first() else {
        let report = Report {
            sections: vec![Section {
                title: t(lang, "Konformans:", "Conformance:"),
                lines: vec![fail(
                    t(lang, "Ingen kalendere er konfigureret", "No calendars are configured"),
                    t(lang, "Konfigurér mindst én [[calendars]], så kontrollen ved, hvilken app den skal bruge.", "Configure at least one [[calendars]] so the check knows which app to use."),
                )],
            }],
        };
        return (report, None);
    };
    let owner = req.owner.clone().unwrap_or_else(|| first.owner.clone());
    let app = config
        .calendars
        .iter()
        .find(|c| c.owner.eq_ignore_ascii_case(&owner))
        .unwrap_or(first);
    let target = conformance::Target {
        is_booking_calendar: config
            .calendars
            .iter()
            .any(|c| c.owner.eq_ignore_ascii_case(&owner) && c.outlook_calendar == req.calendar),
        owner,
        calendar: req.calendar.clone(),
        creds: creds_of(app),
    };
    let mail = match (&config.mail, req.send_mail) {
        (
            MailConfig::Graph {
                tenant_id,
                client_id,
                credential,
                sender,
                user,
            },
            true,
        ) => Some(conformance::MailProbe {
            creds: AppCredentials {
                tenant_id: tenant_id.clone(),
                client_id: client_id.clone(),
                credential: credential.clone(),
            },
            user: user.clone(),
            sender: sender.clone(),
        }),
        _ => None,
    };
    let run_id = {
        let mut b = [0u8; 4];
        let _ = getrandom::getrandom(&mut b);
        format!("{:08x}", u32::from_le_bytes(b))
    };
    let outcome = conformance::run(&graph, &target, mail.as_ref(), lang, now, &run_id).await;
    let report = Report {
        sections: vec![outcome.section.clone()],
    };
    (report, Some(outcome))
}

/// The distinct apps Booket signs in as (calendars and mail), each once.
fn apps_of(config: &Config) -> Vec<AppCredentials> {
    let mut apps: Vec<AppCredentials> = config.calendars.iter().map(creds_of).collect();
    if let MailConfig::Graph {
        tenant_id,
        client_id,
        credential,
        ..
    } = &config.mail
    {
        apps.push(AppCredentials {
            tenant_id: tenant_id.clone(),
            client_id: client_id.clone(),
            credential: credential.clone(),
        });
    }
    let mut seen = std::collections::HashSet::new();
    apps.retain(|a| seen.insert((a.tenant_id.to_lowercase(), a.client_id.to_lowercase())));
    apps
}

/// Least privilege: every app must be refused on `scope_probe_mailbox`, a mailbox outside
/// the booking mailboxes. Reading it means the permission is tenant-wide.
async fn check_scope(graph: &GraphClient, config: &Config, lang: Lang) -> Section {
    let title = t(lang, "Mindste rettigheder:", "Least privilege:");
    let how = t(lang, "Begræns app'en til booking-postkasserne med Exchange Online RBAC for Applications (New-ManagementScope + New-ManagementRoleAssignment -App … -CustomResourceScope, og fjern den tenant-brede Calendars.ReadWrite-tilladelse i Entra ID) eller en application access policy (New-ApplicationAccessPolicy -AccessRight RestrictAccess). Se README, \"Going live\".", "Limit the app to the booking mailboxes with Exchange Online RBAC for Applications (New-ManagementScope + New-ManagementRoleAssignment -App … -CustomResourceScope, and remove the tenant-wide Calendars.ReadWrite permission in Entra ID) or an application access policy (New-ApplicationAccessPolicy -AccessRight RestrictAccess). See the README, \"Going live\".");
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
    for app in apps_of(config) {
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

/// Runs every check of a validated configuration.
pub async fn run(config: &Config, lang: Lang, now: DateTime<Utc>) -> Report {
    let graph = match graph_for(config, lang) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let mut report = Report {
        sections: vec![check_server(config, lang)],
    };
    report
        .sections
        .push(check_scope(&graph, config, lang).await);
    for cal in &config.calendars {
        report
            .sections
            .push(check_calendar(&graph, cal, &config.exchange, lang, now).await);
    }
    report
        .sections
        .push(check_mail(&graph, &config.mail, lang).await);
    report
}

/// The report for a configuration file that does not load.
pub fn invalid_config(lang: Lang, error: &crate::config::ConfigError) -> Report {
    Report {
        sections: vec![Section {
            title: t(lang, "Konfiguration:", "Configuration:"),
            lines: vec![fail(
                error.to_string(),
                t(
                    lang,
                    "Ret feltet i filen og kør booket check igen.",
                    "Fix the field in the file and run booket check again.",
                ),
            )],
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(error: &str, codes: &[u32]) -> TokenRefusal {
        TokenRefusal {
            status: 400,
            error: error.into(),
            codes: codes.to_vec(),
        }
    }

    #[test]
    fn every_token_refusal_has_a_cause_and_a_fix_in_both_languages() {
        let table: [(&[u32], &str, &str, &str); 12] = [
            (
                &[700_027],
                "invalid_client",
                "registreret på app'en",
                "registered on the app",
            ),
            (
                &[700_024],
                "invalid_client",
                "ur går forkert",
                "clock is off",
            ),
            (&[1_000_502], "invalid_client", "udløbet", "expired"),
            (
                &[50_012],
                "invalid_client",
                "påstanden blev afvist",
                "assertion was refused",
            ),
            (&[7_000_215], "invalid_client", "Secret ID", "Secret ID"),
            (&[7_000_222], "invalid_client", "udløbet", "expired"),
            (
                &[700_016],
                "unauthorized_client",
                "findes ikke",
                "does not exist",
            ),
            (
                &[90_002],
                "invalid_request",
                "tenant'en",
                "tenant was not found",
            ),
            (
                &[900_023],
                "invalid_request",
                "tenant'en",
                "tenant was not found",
            ),
            (&[70_011], "invalid_scope", "scope", "scope"),
            (
                &[7_000_218],
                "invalid_request",
                "ikke sendt nogen hemmelighed",
                "no client secret",
            ),
            (&[], "server_error", "afvist", "refused"),
        ];
        for (codes, error, da, en) in table {
            let d = token_line(Lang::Da, &refusal(error, codes));
            let e = token_line(Lang::En, &refusal(error, codes));
            assert!(!d.ok() && d.text.contains(da) && d.hint.is_some(), "{d:?}");
            assert!(!e.ok() && e.text.contains(en) && e.hint.is_some(), "{e:?}");
        }
    }
}
