//! `booket demo`: the configuration for the simulated tenant and the pages a newcomer
//! sees — a citizen form at `/`, the receipt after submitting, and a view of the
//! simulated calendar so a booking's " - Booket" is visible.

pub mod designer;
pub mod drafts;
pub mod layout;

pub use layout::DemoPages;
use layout::{nav, page, page_with};

use crate::config::{
    CalendarAccess, CalendarConfig, Config, ElementConfig, ExchangeApi, ExchangeConfig, FormConfig,
    MailConfig, ServerConfig,
};
use crate::sim::{seed, Simulator};
use app::domain::Markers;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;
use html_escape::encode_text as esc;
use std::fmt::Write;
use std::net::SocketAddr;
use std::time::Duration;

/// Which Exchange the demo books in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoExchange {
    /// A calendar in Exchange Online (Graph) and one in Exchange Server (EWS), side by side.
    Both,
    /// Everything on the EWS simulator: every element and the confirmation mail.
    Ews,
}

/// The whole demo on EWS: every element books in the on-premises calendar, and mail goes
/// through the on-premises mailbox.
pub fn all_on_ews(config: &mut Config) {
    for f in &mut config.forms {
        // The front page's second element would now repeat the first.
        f.elements
            .retain(|e| e.name != "jobcenter" || f.id != "demo");
        for el in &mut f.elements {
            el.calendar = seed::DEMO_EWS_CALENDAR.into();
        }
    }
    let account = config.calendars.iter().find_map(|c| match &c.access {
        CalendarAccess::Ews(a) => Some(a.clone()),
        CalendarAccess::Graph(_) => None,
    });
    if let Some(account) = account {
        config.mail = MailConfig::Ews {
            account,
            sender: seed::DEMO_EWS_OWNER.into(),
            user: seed::DEMO_EWS_OWNER.into(),
        };
    }
}

/// The demo configuration, pointed at a running simulator: a Graph calendar and an EWS one.
pub fn demo_config(sim: &Simulator, listen: SocketAddr) -> Config {
    let element = |name: &str, heading: &str| {
        ElementConfig {
        name: name.into(),
        heading: heading.into(),
        description: "Samtalen varer 30 minutter og foregår i Borgerservice på Rådhuset.".into(),
        info_text: "Du kan booke en tid fra i morgen og fire uger frem. Kan du ikke komme, så ring til Borgerservice på 70 10 20 30.".into(),
        required: true,
        show_weekend: false,
        attach_documents: true,
        notify_attendees: true,
        attach_summary: true,
        calendar: seed::DEMO_CALENDAR.into(),
        first_hour: 8,
        last_hour: 16,
        notice_days: 1,
        // A reminder the day before, with the link to cancel.
        reminder_hours: 24,
    }
    };
    let form = |id: &str, title: &str, el: ElementConfig| FormConfig {
        id: id.into(),
        title: title.into(),
        email_field: Some("email".into()),
        elements: vec![el],
        session_key: None,
        webhook_url: None,
    };
    Config {
        server: ServerConfig {
            listen,
            public_url: format!("http://{listen}"),
            public_url_configured: false,
            allowed_origins: vec![],
            max_body_bytes: 64 * 1024,
            uploads: crate::config::UploadLimits::default(),
            // Generous: the demo and the Playwright suite book a lot from one address.
            rate_limit_per_minute: 600,
            max_holds_per_client: 200,
            read_rate_limit_per_minute: 6000,
            trusted_proxies: vec![],
            forwarded_header: Default::default(),
            max_concurrent_uploads: 8,
            max_concurrent_upload_reads: 32,
            upload_min_rate: 500,
            upload_rate_grace: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            upload_timeout: Duration::from_secs(600),
            body_timeout: Duration::from_secs(20),
            header_timeout: Duration::from_secs(10),
            max_connections: 4096,
            slot_key: None,
            previous_slot_keys: vec![],
            metrics_token: None,
            private_listen: None,
            shutdown_grace: Duration::from_secs(25),
        },
        exchange: ExchangeConfig {
            api: ExchangeApi::Graph,
            graph_base_url: sim.graph_base_url(),
            login_base_url: sim.login_base_url(),
            graph_scope: crate::config::default_graph_scope(
                &sim.graph_base_url(),
                &sim.login_base_url(),
            ),
            markers: Markers::default(),
            cache_ttl: Duration::from_secs(5),
            max_concurrency: 4,
            retry_budget: Duration::from_secs(10),
            hold: Duration::from_secs(900),
            hold_max: Duration::from_secs(1800),
            hold_sweep: Duration::from_secs(30),
            hold_sweep_weeks: 5,
            max_reads_per_minute: 600,
            // The demo tenant limits the app to the booking mailbox; this one is outside.
            scope_probe_mailbox: Some(seed::DEMO_OUTSIDE.into()),
            if_match_honoured: true,
        },
        calendars: vec![CalendarConfig {
            name: seed::DEMO_CALENDAR.into(),
            outlook_calendar: crate::mailbox::CalendarName::new(seed::DEMO_CALENDAR),
            owner: seed::DEMO_OWNER.into(),
            access: CalendarAccess::Graph(crate::graph::AppCredentials {
                tenant_id: seed::DEMO_TENANT.into(),
                client_id: seed::DEMO_CLIENT_ID.into(),
                credential: seed::DEMO_SECRET.into(),
            }),
            time_zone: chrono_tz::Europe::Copenhagen,
        },
        // The on-premises side of the demo organisation: Exchange Server through EWS.
        CalendarConfig {
            name: seed::DEMO_EWS_CALENDAR.into(),
            outlook_calendar: crate::mailbox::CalendarName::new(seed::DEMO_EWS_CALENDAR),
            owner: seed::DEMO_EWS_OWNER.into(),
            access: CalendarAccess::Ews(crate::config::EwsAccount {
                url: format!("{}/EWS/Exchange.asmx", sim.base_url()),
                auth: crate::config::EwsAuth::Ntlm,
                username: seed::DEMO_EWS_USER.into(),
                domain: Some(seed::DEMO_EWS_DOMAIN.into()),
                password: secrecy::SecretString::from(seed::DEMO_EWS_PASSWORD.to_owned()),
                access: crate::config::EwsAccess::Impersonation,
                request_limit: crate::ews::client::DEFAULT_REQUEST_LIMIT,
                extra_roots: Vec::new(),
            }),
            time_zone: chrono_tz::Europe::Copenhagen,
        }],
        // Mail through the same app, as the calendar's mailbox.
        mail: MailConfig::Graph {
            tenant_id: seed::DEMO_TENANT.into(),
            client_id: seed::DEMO_CLIENT_ID.into(),
            credential: seed::DEMO_SECRET.into(),
            sender: seed::DEMO_OWNER.into(),
            user: seed::DEMO_OWNER.into(),
        },
        // The demo and the Playwright suite send many confirmations from one address.
        mail_limits: crate::config::MailLimits {
            per_recipient_per_day: 1000,
            per_client_per_day: 1000,
        },
        forms: vec![
            // The front page: one calendar in Exchange Online (Graph) and one in Exchange
            // Server (EWS), side by side, as in a hybrid organisation.
            FormConfig {
                id: "demo".into(),
                title: "Ansøgning om borgersamtale".into(),
                email_field: Some("email".into()),
                elements: vec![
                    element("tid", "Book en tid til borgersamtale"),
                    ElementConfig {
                        required: false,
                        calendar: seed::DEMO_EWS_CALENDAR.into(),
                        description: "Vil du også tale med Jobcenteret? Samtalen varer 30 minutter (kalender i Exchange Server, via EWS).".into(),
                        ..element("jobcenter", "Book også en tid i Jobcenteret (valgfrit)")
                    },
                ],
                session_key: None,
                webhook_url: None,
            },
            form(
                "weekend",
                "Weekend og udvidet åbningstid",
                ElementConfig {
                    show_weekend: true,
                    first_hour: 7,
                    last_hour: 17,
                    notice_days: 0,
                    ..element("tid", "Book en tid — også i weekenden")
                },
            ),
            FormConfig {
                id: "dobbelt".into(),
                title: "Ansøgning med samtale og opfølgning".into(),
                email_field: Some("email".into()),
                elements: vec![
                    element("tid", "Første samtale"),
                    ElementConfig {
                        notice_days: 2,
                        ..element("opfoelgning", "Opfølgende samtale")
                    },
                ],
                session_key: None,
                webhook_url: None,
            },
            form(
                "jobcenter",
                "Samtale i Jobcenteret (Exchange Server, EWS)",
                ElementConfig {
                    calendar: seed::DEMO_EWS_CALENDAR.into(),
                    ..element("tid", "Book en tid i Jobcenteret")
                },
            ),
            form(
                "valgfri",
                "Henvendelse uden krav om tid",
                ElementConfig {
                    required: false,
                    ..element("tid", "Vil du have en samtale? (valgfrit)")
                },
            ),
        ],
        // A fresh key per run: the demo's receipts verify against its own JWKS.
        receipts: crate::config::ReceiptConfig {
            signing_key: Some(crate::receipts::generate_key_pem()),
            ..Default::default()
        },
        store: None,
        deprecated: Vec::new(),
    }
}

impl DemoPages {
    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(front))
            .route("/forms/{id}", get(form_page))
            .route("/receipt", post(receipt))
            .route("/simulator", get(simulator))
            .route("/designer", get(designer::page))
            .with_state(self)
    }
}

#[derive(serde::Deserialize)]
struct PageQuery {
    /// `en` shows the page (and so the widget) in English.
    lang: Option<String>,
    /// `1` puts the booking element outside the form: it then books with its own button.
    standalone: Option<String>,
}

async fn front(State(d): State<DemoPages>, Query(q): Query<PageQuery>) -> Response {
    render_form(&d, "demo", &q)
}

async fn form_page(
    State(d): State<DemoPages>,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    render_form(&d, &id, &q)
}

fn render_form(d: &DemoPages, id: &str, q: &PageQuery) -> Response {
    let lang = if q.lang.as_deref() == Some("en") {
        "en"
    } else {
        "da"
    };
    let Some(form) = d.config.form(id) else {
        return (
            StatusCode::NOT_FOUND,
            page(
                "Ikke fundet",
                "<main><h1>Blanketten findes ikke</h1></main>",
            ),
        )
            .into_response();
    };
    let mut placeholders = String::new();
    for el in &form.elements {
        let _ = writeln!(
            placeholders,
            "<div data-booket-form=\"{}\" data-booket-element=\"{}\"></div>",
            esc(&form.id),
            esc(&el.name)
        );
    }
    let standalone = q.standalone.as_deref() == Some("1");
    let (inside, outside) = if standalone {
        (String::new(), placeholders)
    } else {
        (placeholders, String::new())
    };
    let body = format!(
        "{nav}\n<main>\n<h1>{title}</h1>\n{outside}\
         <p>Udfyld blanketten og vælg en tid. Tiden bookes i Outlook, når du sender.</p>\n\
         <form method=\"post\" action=\"/receipt\" enctype=\"multipart/form-data\" data-testid=\"demo-form\">\n\
         <input type=\"hidden\" name=\"form\" value=\"{id}\">\n\
         <p><label for=\"name\">Navn</label><br><input id=\"name\" name=\"name\" autocomplete=\"name\" required></p>\n\
         <p><label for=\"email\">E-mail</label><br><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\" required></p>\n\
         <p><label for=\"message\">Besked</label><br><textarea id=\"message\" name=\"message\" rows=\"3\"></textarea></p>\n\
         <p><label for=\"files\">Dokumenter</label><br><input id=\"files\" name=\"files\" type=\"file\" multiple></p>\n\
         {inside}\
         <p><button type=\"submit\" data-testid=\"demo-submit\">Send blanket</button></p>\n\
         </form>\n</main>",
        nav = nav(),
        title = esc(&form.title),
        id = esc(&form.id),
    );
    // The widget's files are named in the head, so the browser fetches them while it reads
    // the page rather than once the loader runs; so are each placeholder's first two
    // answers. Both only with a finished build (one that names its files): without one
    // the page has no hints at all, as pages had before (bench/browser.sh measures the
    // previous loader on such a page).
    let mut hints = crate::web::hints::preload_hints(&d.assets, "/booket");
    if !hints.is_empty() {
        hints.push_str(&crate::web::hints::read_hints(
            app::contract::PREFIX,
            form.elements
                .iter()
                .map(|el| (form.id.as_str(), el.name.as_str())),
        ));
    }
    page_with(lang, &form.title, &hints, &body)
}

/// Shows what the host form's own server would receive, booking JSON included.
async fn receipt(State(d): State<DemoPages>, mut multipart: Multipart) -> Response {
    let mut rows = String::new();
    let mut form_id = String::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => {
                return (
                    StatusCode::BAD_REQUEST,
                    page("Fejl", "<main><h1>Blanketten kunne ikke læses</h1></main>"),
                )
                    .into_response()
            }
        };
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let Ok(bytes) = field.bytes().await else {
            return (
                StatusCode::BAD_REQUEST,
                page("Fejl", "<main><h1>Blanketten kunne ikke læses</h1></main>"),
            )
                .into_response();
        };
        let value = match file_name {
            Some(f) if f.is_empty() => continue,
            Some(f) => format!("{f} ({} bytes)", bytes.len()),
            None => String::from_utf8_lossy(&bytes).into_owned(),
        };
        if name == "form" {
            form_id = value.clone();
        }
        let pretty = serde_json::from_str::<serde_json::Value>(&value)
            .ok()
            .filter(|v| v.is_object())
            .and_then(|v| serde_json::to_string_pretty(&v).ok());
        let shown = match pretty {
            Some(p) => format!("<pre data-testid=\"receipt-json\">{}</pre>", esc(&p)),
            None => esc(&value).into_owned(),
        };
        let _ = writeln!(
            rows,
            "<tr><th scope=\"row\">{}</th><td data-field=\"{}\">{shown}</td></tr>",
            esc(&name),
            esc(&name)
        );
    }
    let title = d
        .config
        .form(&form_id)
        .map(|f| f.title.clone())
        .unwrap_or_else(|| "Blanket".into());
    let body = format!(
        "{}\n<main>\n<h1>Tak — blanketten er modtaget</h1>\n<p>{}: dette er de værdier, som formularens server modtog.</p>\n\
         <table class=\"demo-table\" data-testid=\"receipt\"><caption>Indsendte værdier</caption>\n{rows}</table>\n\
         <p><a href=\"/simulator\">Se bookingen i den simulerede Outlook-kalender</a></p>\n</main>",
        nav(),
        esc(&title)
    );
    page("Kvittering", &body)
}

/// One calendar's events as staff see them in Outlook.
fn calendar_table(d: &DemoPages, calendar: &str, caption: &str) -> String {
    let tz = chrono_tz::Europe::Copenhagen;
    let events = d.sim.calendar_events(calendar);
    let mut rows = String::new();
    for e in &events {
        let start = e.start.with_timezone(&tz);
        let end = e.end.with_timezone(&tz);
        let state = if e.is_cancelled {
            "aflyst"
        } else if e.is_all_day {
            "heldags"
        } else if e.subject.ends_with(" - Booket") {
            "booket"
        } else if e.subject.ends_with(" - Reserveret") {
            "reserveret"
        } else {
            "ledig"
        };
        let attendees: Vec<&str> = e.attendees.iter().map(|a| a.address.as_str()).collect();
        let files: Vec<String> = e
            .attachments
            .iter()
            .map(|a| format!("{} ({} KB)", a.name, a.size.div_ceil(1024)))
            .collect();
        let _ = writeln!(
            rows,
            "<tr data-event-id=\"{}\" data-state=\"{state}\"><td>{}</td><td>{}–{}</td><td class=\"subject\">{}</td><td>{}</td><td class=\"files\">{}</td><td>{}</td></tr>",
            esc(&e.id),
            start.format("%a %d.%m.%Y"),
            start.format("%H:%M"),
            end.format("%H:%M"),
            esc(&e.subject),
                        esc(&attendees.join(", ")),
            esc(&files.join(", ")),
            esc(&e.kind),
        );
    }
    format!(
        "<table class=\"demo-table\" data-testid=\"sim-events\" data-calendar=\"{}\"><caption>{}</caption>\n\
         <thead><tr><th scope=\"col\">Dag</th><th scope=\"col\">Tid</th><th scope=\"col\">Emne</th><th scope=\"col\">Deltagere</th><th scope=\"col\">Vedhæftet</th><th scope=\"col\">Seed</th></tr></thead>\n\
         <tbody>{rows}</tbody></table>",
        esc(calendar),
        esc(caption)
    )
}

async fn simulator(State(d): State<DemoPages>) -> Response {
    let tz = chrono_tz::Europe::Copenhagen;
    let mut updates = String::new();
    for u in d.sim.meeting_updates() {
        let _ = writeln!(
            updates,
            "<li>Mødeopdatering til {}: “{}”{}</li>",
            esc(&u.recipients.join(", ")),
            esc(&u.subject),
            if u.attachments.is_empty() {
                String::new()
            } else {
                format!(" (vedhæftet: {})", esc(&u.attachments.join(", ")))
            }
        );
    }
    if updates.is_empty() {
        updates.push_str("<li>Ingen endnu.</li>");
    }
    let mut outbox = String::new();
    for m in d.sim.outbox() {
        let files: Vec<&str> = m.attachments.iter().map(|a| a.name.as_str()).collect();
        // The mail's text as the citizen reads it, its links clickable (the booking's own
        // page is one).
        let mut text = String::new();
        for line in m.body.lines() {
            if line.starts_with("http://") || line.starts_with("https://") {
                let _ = writeln!(
                    text,
                    "<a href=\"{}\" data-testid=\"mail-link\">{}</a>",
                    html_escape::encode_double_quoted_attribute(line),
                    esc(line)
                );
            } else {
                let _ = writeln!(text, "{}", esc(line));
            }
        }
        let attached = if files.is_empty() {
            String::new()
        } else {
            format!(" (vedhæftet: {})", esc(&files.join(", ")))
        };
        let _ = writeln!(
            outbox,
            "<li>Til {}: “{}”{attached}<pre class=\"demo-mail\">{text}</pre></li>",
            esc(&m.to.join(", ")),
            esc(&m.subject),
        );
    }
    if outbox.is_empty() {
        outbox.push_str("<li>Ingen endnu.</li>");
    }
    let graph = calendar_table(
        &d,
        seed::DEMO_CALENDAR,
        &format!(
            "“{}” ({}, Exchange Online via Microsoft Graph)",
            seed::DEMO_CALENDAR,
            seed::DEMO_OWNER
        ),
    );
    let ews = calendar_table(
        &d,
        seed::DEMO_EWS_CALENDAR,
        &format!(
            "“{}” ({}, Exchange Server via EWS)",
            seed::DEMO_EWS_CALENDAR,
            seed::DEMO_EWS_OWNER
        ),
    );
    let body = format!(
        "{}\n<main>\n<h1>Simuleret Outlook</h1>\n\
         <p>Sådan ser personalet kalenderne. Opdateret {} (genindlæs siden for at se nye bookinger).</p>\n\
         <h2>Mødeopdateringer sendt til deltagere</h2>\n<ul data-testid=\"meeting-updates\">{updates}</ul>\n\
         <h2>Sendte e-mails</h2>\n<ul data-testid=\"outbox\">{outbox}</ul>\n\
         <h2>Kalendere</h2>\n{graph}\n{ews}\n</main>",
        nav(),
        Utc::now().with_timezone(&tz).format("%H:%M:%S"),
    );
    page("Simuleret Outlook", &body)
}
