//! Getting a token, and what a refusal most likely means and how to fix it.

use super::report::*;
use crate::graph::{AppCredentials, GraphClient, GraphError, TokenRefusal};
use app::i18n::Lang;
use base64::Engine;

/// What a token refusal most likely means, and how to fix it.
pub(super) fn token_line(lang: Lang, r: &TokenRefusal) -> Line {
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

pub(super) fn transient_line(lang: Lang, what: &str, e: &GraphError) -> Line {
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
pub(super) async fn token_check(
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

/// "Cannot tell": the token's permissions cannot be read (Microsoft documents access tokens
/// as opaque to clients), with how to verify `permission` by hand.
pub(super) fn unreadable_token(lang: Lang, permission: &str) -> Line {
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
