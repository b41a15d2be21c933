//! The shared store of several instances: reachable, its version and persistence, and the
//! instances alive on it.

use super::report::*;
use crate::config::Config;
use crate::store::Store;
use app::i18n::Lang;
use secrecy::ExposeSecret;

pub(super) async fn check_store(config: &Config, lang: Lang) -> Section {
    let title = t(lang, "Delt lager:", "Shared store:");
    let Some(s) = &config.store else {
        return Section {
            title,
            lines: vec![pass(t(
                lang,
                "Intet delt lager: én instans (flere instanser kræver [store])",
                "No shared store: one instance (several instances need [store])",
            ))],
        };
    };
    let store = match Store::shared(s.url.expose_secret(), s.lease, config.exchange.retry_budget) {
        Ok(store) => store,
        Err(e) => {
            return Section {
                title,
                lines: vec![fail(
                    format!("[store] url: {e}"),
                    t(lang, "Ret adressen.", "Correct the address."),
                )],
            }
        }
    };
    let Some(shared) = store.as_shared() else {
        unreachable!("a shared store");
    };
    let facts = match shared.facts().await {
        Ok(f) => f,
        Err(e) => {
            return Section {
                title,
                lines: vec![fail(
                    e.to_string(),
                    t(
                        lang,
                        "Start lageret, eller ret [store] url (adgangskode, TLS med rediss://).",
                        "Start the store, or correct [store] url (password, TLS with rediss://).",
                    ),
                )],
            }
        }
    };
    let mut lines = vec![pass(match lang {
        Lang::Da => format!(
            "Lageret svarer (Redis {}); {} instans(er) i live på det",
            facts.version, facts.instances
        ),
        Lang::En => format!(
            "The store answers (Redis {}); {} instance(s) alive on it",
            facts.version, facts.instances
        ),
    })];
    lines.push(match (facts.append_only, facts.snapshots) {
        (false, Some(false)) => pass(t(
            lang,
            "Uden persistens: en genstart er altid tom, og Booket deler ingen lås ud i én lease-længde efter den",
            "Without persistence: a restart is always empty, and Booket hands out no lease for one lease length after it",
        )),
        (false, None) => warn(
            t(lang, "Lageret siger ikke, om det gemmer snapshots", "The store does not say whether it saves snapshots"),
            t(lang, "Kør lageret uden persistens (save \"\", appendonly no).", "Run the store without persistence (save \"\", appendonly no)."),
        ),
        _ => warn(
            t(lang, "Lageret har persistens: et gendannet snapshot kan bringe en gammel tilstand tilbage uden en nyere lås", "The store persists: a restored snapshot can bring back an old state without a newer lease"),
            t(lang, "Kør lageret uden persistens (save \"\", appendonly no), se docs/operators/instances.md.", "Run the store without persistence (save \"\", appendonly no); see docs/operators/instances.md."),
        ),
    });
    Section { title, lines }
}
