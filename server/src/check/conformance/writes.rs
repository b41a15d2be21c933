//! The conditional write (If-Match), and whether a PATCH answer and a later read carry
//! the hold record.

use super::*;

impl Run<'_> {
    pub(super) async fn if_match(&mut self, id: &str) {
        let b = Behaviour::StaleIfMatchRefused;
        let first = match self.read(id).await {
            Ok(e) => e.if_match().unwrap_or_default(),
            Err(e) => {
                let l = self.err_line(
                    self.tally.t(
                        "If-Match: kan ikke læse prøveaftalen",
                        "If-Match: cannot read the test event",
                    ),
                    &e,
                );
                return self.tally.found(b, None, l);
            }
        };
        let changed = format!("{} (1)", self.tag);
        if let Err(e) = self.patch(id, &first, Some(&changed), None).await {
            let l = self.err_line(
                self.tally.t(
                    "If-Match: en PATCH med den aktuelle etag blev afvist",
                    "If-Match: a PATCH with the current etag was refused",
                ),
                &e,
            );
            return self.tally.found(b, None, l);
        }
        let again = format!("{} (2)", self.tag);
        match self.patch(id, &first, Some(&again), None).await {
            Err(GraphError::Conflict { status, code }) => {
                let l = pass(match self.tally.lang {
                    Lang::Da => format!("If-Match overholdes: en PATCH med en forældet etag afvises ({status} {code}); flere instanser kan køre side om side"),
                    Lang::En => format!("If-Match is honoured: a PATCH with a stale etag is refused ({status} {code}); several instances may run side by side"),
                });
                self.tally.found(b, Some(true), l)
            }
            Ok(_) => {
                let l = warn(
                    self.tally.t("If-Match overholdes ikke: en PATCH med en forældet etag blev udført", "If-Match is not honoured: a PATCH with a stale etag was carried out"),
                    self.tally.t("Sæt if_match_honoured = false under [exchange] (så læser Booket hver skrivning tilbage) og kør kun én Booket-instans mod denne tenant: inden for en instans skriver Booket én ad gangen pr. aftale, men mellem instanser er det If-Match, der forhindrer dobbeltbooking.", "Set if_match_honoured = false under [exchange] (Booket then reads every write back) and run only one Booket instance against this tenant: within an instance Booket writes one at a time per event, but between instances it is If-Match that prevents double booking."),
                );
                self.tally.found(b, Some(false), l)
            }
            Err(e) => {
                let l = self.err_line(
                    self.tally
                        .t("If-Match: uventet svar", "If-Match: unexpected answer"),
                    &e,
                );
                self.tally.found(b, None, l)
            }
        }
    }

    pub(super) async fn extended_property(&mut self, id: &str) {
        let b = Behaviour::ExtendedPropertyRoundTrip;
        let value = format!("conformance;{}", self.tag);
        let outcome = async {
            let etag = self.read(id).await?.if_match().unwrap_or_default();
            let answer = self
                .patch(id, &etag, None, Some((HOLD_PROPERTY, &value)))
                .await?;
            Ok((answer, self.read(id).await?))
        }
        .await;
        if let Ok((answer, _)) = &outcome {
            let carried = answer.property(HOLD_PROPERTY) == Some(value.as_str());
            let l = pass(match (self.tally.lang, carried) {
                (Lang::Da, true) => "PATCH-svaret indeholder den udvidede egenskab, der blev sat (Microsoft dokumenterer det modsatte); Booket bruger kun svarets nye etag og afhænger ikke af det".to_owned(),
                (Lang::Da, false) => "PATCH-svaret indeholder ikke den udvidede egenskab, der blev sat (som Microsoft dokumenterer); Booket bruger kun svarets nye etag og afhænger ikke af det".to_owned(),
                (Lang::En, true) => "The PATCH answer carries the extended property it set (Microsoft documents that it does not); Booket takes only the new etag from it and depends on neither".to_owned(),
                (Lang::En, false) => "The PATCH answer leaves out the extended property it set (as Microsoft documents); Booket takes only the new etag from it and depends on neither".to_owned(),
            });
            self.tally
                .found(Behaviour::PatchAnswerCarriesProperty, Some(carried), l);
        }
        match outcome.map(|(_, read)| read) {
            Ok(e) if e.property(HOLD_PROPERTY) == Some(value.as_str()) => {
                let l = pass(self.tally.t(
                    "Booket's udvidede egenskab (hold-posten) skrives og læses tilbage",
                    "Booket's extended property (the hold record) is written and reads back",
                ));
                self.tally.found(b, Some(true), l)
            }
            Ok(_) => {
                let l = fail(
                    self.tally.t("Den udvidede egenskab læses ikke tilbage som skrevet", "The extended property does not read back as written"),
                    self.tally.t("Booket kan ikke holde tider eller registrere filer i denne tenant. Kontakt Booket-teamet med denne rapport.", "Booket cannot hold times or record files in this tenant. Contact the Booket team with this report."),
                );
                self.tally.found(b, Some(false), l)
            }
            Err(e) => {
                let l = self.err_line(self.tally.t("Udvidet egenskab", "Extended property"), &e);
                self.tally.found(b, None, l)
            }
        }
    }
}
