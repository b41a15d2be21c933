//! `booket check` for a calendar reached through EWS: the service account logs on, may act
//! for the owner (impersonation or Full Access), the calendar folder is found exactly once,
//! and a week can be read. Each failure says what to change, in Danish and English.

use super::report::{fail, pass, t, Line, Section};
use crate::check::Lang;
use crate::config::{CalendarConfig, EwsAccess, EwsAccount, EwsAuth, ExchangeConfig};
use crate::ews::{EwsClient, EwsMailbox};
use crate::mailbox::{Mailbox, MailboxError};
use chrono::{DateTime, Utc};
use std::sync::Arc;

pub(super) async fn check_ews_calendar(
    cal: &CalendarConfig,
    account: &EwsAccount,
    exchange: &ExchangeConfig,
    lang: Lang,
    now: DateTime<Utc>,
) -> Section {
    let title = format!(
        "{} \"{}\" (EWS):",
        t(lang, "Kalender", "Calendar"),
        cal.name
    );
    let mut lines = vec![pass(t(lang, "Konfiguration gyldig", "Configuration valid"))];
    let client = match EwsClient::new(
        account.clone(),
        exchange.max_concurrency,
        exchange.retry_budget,
    ) {
        Ok(c) => c,
        Err(e) => {
            lines.push(fail(e.to_string(), String::new()));
            return Section { title, lines };
        }
    };
    let client = Arc::new(client);
    let mailbox = EwsMailbox::new(client.clone(), &cal.owner);
    let who = match account.access {
        EwsAccess::Impersonation => t(lang, "med impersonation", "by impersonation"),
        EwsAccess::Delegate => t(
            lang,
            "som stedfortræder (Full Access)",
            "as a delegate (Full Access)",
        ),
    };
    if let Err(e) = mailbox.sign_in().await {
        lines.push(failure(lang, &account.username, &cal.owner, &e));
        return Section { title, lines };
    }
    let tls = account.url.starts_with("https:");
    lines.push(pass(if tls {
        t(
            lang,
            "EWS svarer over TLS med et certifikat, serveren stoler på",
            "EWS answers over TLS with a certificate this server trusts",
        )
    } else {
        t(
            lang,
            "EWS svarer over almindelig HTTP på denne maskine (en simulator)",
            "EWS answers over plain HTTP on this machine (a simulator)",
        )
    }));
    lines.push(pass(format!(
        "{} {} {} {} {who}",
        t(lang, "Tjenestekontoen", "The service account"),
        account.username,
        t(lang, "er logget på og når", "is logged on and reaches"),
        cal.owner
    )));
    lines.push(pass(match (account.auth, tls) {
        (EwsAuth::Ntlm, true) => t(
            lang,
            "Logon: NTLMv2 med Extended Protections kanalbinding til serverens certifikat",
            "Logon: NTLMv2 with Extended Protection's channel binding to the server's certificate",
        ),
        (EwsAuth::Ntlm, false) => t(
            lang,
            "Logon: NTLMv2 uden kanalbinding (almindelig HTTP; Exchange med Extended Protection afviser det)",
            "Logon: NTLMv2 without channel binding (plain HTTP; Exchange with Extended Protection refuses that)",
        ),
        (EwsAuth::Basic, _) => t(lang, "Logon: Basic", "Logon: Basic"),
    }));
    if let Some(v) = client.server_version() {
        let product = match v.split('.').take(2).collect::<Vec<_>>().as_slice() {
            ["15", "2"] => t(
                lang,
                " (Exchange Server 2019 eller Subscription Edition)",
                " (Exchange Server 2019 or Subscription Edition)",
            ),
            ["15", "1"] => " (Exchange Server 2016)".into(),
            ["15", "0"] => " (Exchange Server 2013)".into(),
            _ => String::new(),
        };
        lines.push(pass(format!(
            "{} {v}{product}",
            t(lang, "Exchange-version", "Exchange version")
        )));
    }
    if let Err(e) = mailbox.resolve_calendar(&cal.outlook_calendar).await {
        lines.push(fail(
            e.to_string(),
            t(
                lang,
                "Tjek outlook_calendar: kalenderens navn præcis som Outlook viser det, og at kun én mappe har det.",
                "Check outlook_calendar: the calendar's name exactly as Outlook shows it, held by one folder only.",
            ),
        ));
        return Section { title, lines };
    }
    lines.push(pass(format!(
        "{} \"{}\" {}",
        t(lang, "Kalenderen", "The calendar"),
        cal.outlook_calendar,
        t(lang, "er fundet én gang", "is found once")
    )));
    let monday = crate::booking::local_midnight(
        cal.time_zone,
        app::domain::week::monday_of(now.with_timezone(&cal.time_zone).date_naive()),
    );
    match mailbox
        .events(
            &cal.outlook_calendar,
            monday,
            monday + chrono::TimeDelta::days(7),
        )
        .await
    {
        Ok(events) => lines.push(pass(format!(
            "{} ({} {})",
            t(lang, "Denne uge kan læses", "This week can be read"),
            events.len(),
            t(lang, "aftaler", "events")
        ))),
        Err(e) => lines.push(failure(lang, &account.username, &cal.owner, &e)),
    }
    Section { title, lines }
}

/// A failed call, with what to do about it.
fn failure(lang: Lang, user: &str, owner: &str, e: &MailboxError) -> Line {
    let text = e.to_string();
    let hint = if text.to_lowercase().contains("certificate") {
        t(
            lang,
            "Serverens TLS-certifikat godtages ikke: det skal være udstedt til navnet i ews_url af en offentlig CA eller af organisationens egen rod-CA, angivet med ews_ca_file (PEM).",
            "The server's TLS certificate is not accepted: it must be issued for the name in ews_url by a public CA or by the organisation's own root CA, given as ews_ca_file (PEM).",
        )
    } else if text.contains("does not accept NTLM") {
        t(
            lang,
            "Windows-godkendelse er slået fra på EWS' virtuelle mappe: slå den til (Set-WebServicesVirtualDirectory -WindowsAuthentication $true), eller brug auth = \"basic\", hvis serveren tilbyder Basic (over https).",
            "Windows authentication is off on the EWS virtual directory: switch it on (Set-WebServicesVirtualDirectory -WindowsAuthentication $true), or use auth = \"basic\" if the server offers Basic (over https).",
        )
    } else if text.contains("does not accept Basic") {
        t(
            lang,
            "Basic-godkendelse er slået fra på EWS' virtuelle mappe (som anbefalet): brug auth = \"ntlm\".",
            "Basic authentication is off on the EWS virtual directory (as recommended): use auth = \"ntlm\".",
        )
    } else if text.contains("NTLM logon (401)") {
        t(
            lang,
            "Tjek username, domain og password (fx { env = \"BOOKET_EWS_PASSWORD\" }). Extended Protection (standard fra Exchange 2019 CU14) kræver, at NTLM går over https direkte til Exchange: Booket sender kanalbindingen til det certifikat, det ser, så en proxy eller load balancer, der afslutter TLS (SSL offloading), får logon afvist — lad TLS gå igennem til Exchange.",
            "Check username, domain and password (e.g. { env = \"BOOKET_EWS_PASSWORD\" }). Extended Protection (on by default since Exchange 2019 CU14) needs NTLM over https straight to Exchange: Booket binds the logon to the certificate it sees, so a proxy or load balancer that terminates TLS (SSL offloading) gets the logon refused — pass TLS through to Exchange.",
        )
    } else if text.contains("(401)") {
        t(
            lang,
            "Tjek username, domain og password (fx { env = \"BOOKET_EWS_PASSWORD\" }), og at Basic-godkendelse er slået til på EWS' virtuelle mappe.",
            "Check username, domain and password (e.g. { env = \"BOOKET_EWS_PASSWORD\" }), and that Basic authentication is enabled on the EWS virtual directory.",
        )
    } else if text.contains("Impersonat") || text.contains("ErrorAccessDenied") {
        format!(
            "{} {user} {} {owner}: {}",
            t(lang, "Giv", "Give"),
            t(lang, "ret til at handle for", "the right to act for"),
            t(
                lang,
                "New-ManagementRoleAssignment -Role ApplicationImpersonation (access = \"impersonation\") eller Add-MailboxPermission -AccessRights FullAccess (access = \"delegate\").",
                "New-ManagementRoleAssignment -Role ApplicationImpersonation (access = \"impersonation\") or Add-MailboxPermission -AccessRights FullAccess (access = \"delegate\").",
            )
        )
    } else if text.contains("ErrorNonExistentMailbox") {
        t(
            lang,
            "Tjek owner: postkassens primære SMTP-adresse.",
            "Check owner: the mailbox's primary SMTP address.",
        )
    } else {
        t(
            lang,
            "Tjek ews_url (fx https://mail.kommune.dk/EWS/Exchange.asmx), at serveren kan nås herfra, og prøv igen.",
            "Check ews_url (e.g. https://mail.kommune.dk/EWS/Exchange.asmx), that the server is reachable from here, and try again.",
        )
    };
    fail(text, hint)
}
