//! `booket check`: diagnoses every configured calendar and the mail setup against the real
//! endpoints, one line per check with a hint on how to fix what fails.

use crate::config::{Config, MailConfig};
use crate::graph::{GraphClient, GraphOptions};
use chrono::{DateTime, Utc};

mod calendar;
pub mod conformance;
pub mod conformance_ews;
mod ews;
mod mail;
mod report;
mod server;
mod store;
mod token;

use calendar::check_calendar;
use mail::check_mail;
use report::{fail, t};
pub use report::{Line, Report, Section, Status};
use server::{check_scope, check_server};

use token::transient_line;

/// The report's language: the widget's own `Lang` (one for the whole product).
pub use app::i18n::Lang;
pub use token::token_roles;

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
    let run_id = {
        let mut b = [0u8; 4];
        let _ = getrandom::getrandom(&mut b);
        format!("{:08x}", u32::from_le_bytes(b))
    };
    // A scratch folder in a mailbox reached through EWS (named by --owner, or the only
    // kind configured) is checked through EWS, with that calendar's service account.
    let ews_calendar = config.calendars.iter().find_map(|c| match &c.access {
        crate::config::CalendarAccess::Ews(a)
            if req.owner.as_deref().map_or(
                config.calendars.iter().all(|c| c.credentials().is_none()),
                |o| c.owner.eq_ignore_ascii_case(o),
            ) =>
        {
            Some((c, a))
        }
        _ => None,
    });
    if let Some((cal, account)) = ews_calendar {
        let owner = req.owner.clone().unwrap_or_else(|| cal.owner.clone());
        let outcome = if config.calendars.iter().any(|c| {
            c.owner.eq_ignore_ascii_case(&owner) && c.outlook_calendar.as_str() == req.calendar
        }) {
            conformance::Outcome {
                section: Section {
                    title: t(lang, "Konformans:", "Conformance:"),
                    lines: vec![conformance::booking_calendar_refused(lang)],
                },
                findings: vec![],
            }
        } else {
            conformance_ews::run(
                account,
                config.exchange.max_concurrency,
                config.exchange.retry_budget,
                &owner,
                &req.calendar,
                lang,
                now,
                &run_id,
            )
            .await
        };
        let report = Report {
            sections: vec![outcome.section.clone()],
        };
        return (report, Some(outcome));
    }
    let graph = match graph_for(config, lang) {
        Ok(g) => g,
        Err(r) => return (r, None),
    };
    // (Graph's undocumented behaviours: Graph calendars.)
    let graph_calendars: Vec<(&crate::config::CalendarConfig, crate::graph::AppCredentials)> =
        config
            .calendars
            .iter()
            .filter_map(|c| c.credentials().map(|a| (c, a)))
            .collect();
    let Some(first) = graph_calendars.first() else {
        let report = Report {
            sections: vec![Section {
                title: t(lang, "Konformans:", "Conformance:"),
                lines: vec![fail(
                    t(lang, "Ingen Graph-kalendere er konfigureret", "No Graph calendars are configured"),
                    t(lang, "Konfigurér mindst én [[calendars]] med api = \"graph\", så kontrollen ved, hvilken app den skal bruge.", "Configure at least one [[calendars]] with api = \"graph\" so the check knows which app to use."),
                )],
            }],
        };
        return (report, None);
    };
    let owner = req.owner.clone().unwrap_or_else(|| first.0.owner.clone());
    let app = graph_calendars
        .iter()
        .find(|(c, _)| c.owner.eq_ignore_ascii_case(&owner))
        .unwrap_or(first);
    let target = conformance::Target {
        is_booking_calendar: config.calendars.iter().any(|c| {
            c.owner.eq_ignore_ascii_case(&owner) && c.outlook_calendar.as_str() == req.calendar
        }),
        owner,
        calendar: req.calendar.clone(),
        creds: app.1.clone(),
    };
    let mail =
        match &config.mail {
            MailConfig::Graph { sender, user, .. } if req.send_mail => config
                .mail
                .credentials()
                .map(|creds| conformance::MailProbe {
                    creds,
                    user: user.clone(),
                    sender: sender.clone(),
                }),
            _ => None,
        };
    let outcome = conformance::run(&graph, &target, mail.as_ref(), lang, now, &run_id).await;
    let report = Report {
        sections: vec![outcome.section.clone()],
    };
    (report, Some(outcome))
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
    if let Some(section) = renamed_settings(config, lang) {
        report.sections.insert(0, section);
    }
    report
        .sections
        .push(check_scope(&graph, config, lang).await);
    for cal in &config.calendars {
        let section = match &cal.access {
            crate::config::CalendarAccess::Graph(app) => {
                check_calendar(&graph, cal, app, &config.exchange, lang, now).await
            }
            crate::config::CalendarAccess::Ews(account) => {
                ews::check_ews_calendar(cal, account, &config.exchange, lang, now).await
            }
        };
        report.sections.push(section);
    }
    report
        .sections
        .push(check_mail(&graph, &config.mail, lang).await);
    report.sections.push(store::check_store(config, lang).await);
    report
}

/// A warning per setting the file still gives under its older name (accepted; to be
/// renamed before the old name goes).
fn renamed_settings(config: &Config, lang: Lang) -> Option<Section> {
    if config.deprecated.is_empty() {
        return None;
    }
    let lines = config
        .deprecated
        .iter()
        .map(|(old, new)| {
            report::warn(
                t(
                    lang,
                    &format!("{old} er et ældre navn for {new}"),
                    &format!("{old} is an older name of {new}"),
                ),
                t(
                    lang,
                    &format!("Omdøb det til {new}; det gamle navn tages stadig imod, men udgår."),
                    &format!("Rename it to {new}; the old name is still accepted but deprecated."),
                ),
            )
        })
        .collect();
    Some(Section {
        title: t(lang, "Konfiguration:", "Configuration:"),
        lines,
    })
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
