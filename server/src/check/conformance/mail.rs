//! sendMail from the sending mailbox to itself (only when asked).

use super::*;

impl Run<'_> {
    pub(super) async fn send_mail(&mut self, probe: Option<&MailProbe>) {
        let b = Behaviour::SendMailAccepted;
        let Some(m) = probe else {
            let l = warn(
                self.tally.t("sendMail er ikke prøvet", "sendMail was not tried"),
                self.tally.t("Kør med --send-mail for at sende én prøvemail fra afsenderpostkassen til den selv.", "Run with --send-mail to send one test mail from the sending mailbox to itself."),
            );
            return self.tally.found(b, None, l);
        };
        let message = serde_json::json!({
            "subject": self.tag.clone(),
            "body": {"contentType": "text", "content": "Booket's conformance check sent this mail to the sending mailbox itself. It can be deleted."},
            "toRecipients": [{"emailAddress": {"address": m.sender}}],
            "from": {"emailAddress": {"address": m.sender}},
        });
        match self.graph.send_mail(&m.creds, &m.user, message).await {
            Ok(()) => {
                let l = pass(match self.tally.lang {
                    Lang::Da => format!(
                        "sendMail accepteret (202) — tjek at \"{}\" når frem til {}",
                        self.tag, m.sender
                    ),
                    Lang::En => format!(
                        "sendMail accepted (202) — check that \"{}\" arrives in {}",
                        self.tag, m.sender
                    ),
                });
                self.tally.found(b, Some(true), l)
            }
            Err(e) => {
                let l = fail(
                    format!("sendMail: {e}"),
                    self.tally.t(
                        "Giv app'en Mail.Send (Application) og tjek [mail] user/sender.",
                        "Give the app Mail.Send (Application) and check [mail] user/sender.",
                    ),
                );
                self.tally.found(b, Some(false), l)
            }
        }
    }
}
