//! A recurring series: whether calendarView shows its occurrences with their hold records.

use super::*;

impl Run<'_> {
    pub(super) async fn series(&mut self, day: DateTime<Utc>) {
        let b = Behaviour::SeriesEtagsIndependent;
        let mut body = self.event_body(day);
        body["recurrence"] = serde_json::json!({
            "pattern": {"type": "daily", "interval": 1},
            "range": {
                "type": "numbered",
                "startDate": day.format("%Y-%m-%d").to_string(),
                "numberOfOccurrences": 2,
            },
        });
        if let Err(e) = self.create(body).await {
            let l = self.err_line(
                self.tally.t(
                    "En gentaget aftale kunne ikke oprettes",
                    "A recurring event could not be created",
                ),
                &e,
            );
            return self.tally.found(b, None, l);
        }
        let t = self.target;
        let occurrences: Vec<Event> = match self
            .graph
            .calendar_view(
                &t.creds,
                &t.owner,
                &self.calendar_id,
                day - TimeDelta::hours(1),
                day + TimeDelta::days(2),
                HOLD_PROPERTY,
            )
            .await
        {
            Ok(all) => all
                .into_iter()
                .filter(|e| e.subject.as_deref() == Some(self.tag.as_str()))
                .collect(),
            Err(e) => {
                let l = self.err_line(
                    self.tally.t(
                        "Kalendervisningen kunne ikke læses",
                        "The calendar view could not be read",
                    ),
                    &e,
                );
                return self.tally.found(b, None, l);
            }
        };
        let [first, second] = occurrences.as_slice() else {
            let l = fail(
                match self.tally.lang {
                    Lang::Da => format!(
                        "Serien viste sig som {} forekomster i stedet for 2",
                        occurrences.len()
                    ),
                    Lang::En => format!(
                        "The series showed as {} occurrences instead of 2",
                        occurrences.len()
                    ),
                },
                self.tally.t(
                    "Kontakt Booket-teamet med denne rapport.",
                    "Contact the Booket team with this report.",
                ),
            );
            return self.tally.found(b, None, l);
        };
        let before = second.if_match();
        let changed = format!("{} (1)", self.tag);
        let outcome = async {
            self.patch(
                &first.id,
                &first.if_match().unwrap_or_default(),
                Some(&changed),
                None,
            )
            .await?;
            self.read(&second.id).await
        }
        .await;
        match outcome {
            Ok(after) if after.if_match() == before => {
                let l = pass(self.tally.t(
                    "En ændring af én forekomst i en serie lader de andres etag være",
                    "Changing one occurrence of a series leaves the others' etags alone",
                ));
                self.tally.found(b, Some(true), l)
            }
            Ok(_) => {
                let l = warn(
                    self.tally.t("En ændring af én forekomst i en serie gør de andre forekomsters etag forældet", "Changing one occurrence of a series makes the other occurrences' etags stale"),
                    self.tally.t("Booket skriver mod den version, den sidst så (ugens eller aftalens), og når en skrivning afvises, læser den aftalen og skriver én gang til, hvis tiden stadig er fri at tage (kun etag'en flyttede sig); ingen borger får \"taget\" af den grund.", "Booket writes against the version it last saw (the week's or the event's), and when a write is refused it reads the event and writes once more if the time is still free to take (only the etag moved); no citizen is told \"taken\" for it."),
                );
                self.tally.found(b, Some(false), l)
            }
            Err(e) => {
                let l = self.err_line(self.tally.t("Serie", "Series"), &e);
                self.tally.found(b, None, l)
            }
        }
    }
}
