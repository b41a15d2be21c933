//! Attachments: a small one, an upload session, the Location it answers, listing and
//! deleting.

use super::*;

impl Run<'_> {
    pub(super) async fn attachments(&mut self, id: &str) {
        let (creds, owner) = (self.target.creds.clone(), self.target.owner.clone());
        let tag = self.file_tag.clone();
        let small: Vec<u8> = b"Booket conformance check: a small test file.\n".to_vec();
        // An upload session takes 3 MB and more (smaller is refused with
        // ErrorAttachmentSizeShouldNotBeLessThanMinimumSize).
        let large: Vec<u8> = vec![b'.'; SMALL_ATTACHMENT_LIMIT];
        let mut ids = Vec::new();
        for (name, body, behaviour) in [
            ("booket-small.txt", &small, Behaviour::ContentIdKeptSmall),
            (
                "booket-upload-session.txt",
                &large,
                Behaviour::ContentIdKeptUploadSession,
            ),
        ] {
            match self
                .graph
                .add_attachment(&creds, &owner, id, name, "text/plain", &tag, body)
                .await
            {
                Ok(added) => {
                    if behaviour == Behaviour::ContentIdKeptUploadSession {
                        self.upload_location(&added);
                    }
                    ids.push((name, added.id.unwrap_or_default(), behaviour))
                }
                Err(e) => {
                    let what = match self.tally.lang {
                        Lang::Da => format!("Vedhæftning af {name}"),
                        Lang::En => format!("Attaching {name}"),
                    };
                    let l = self.err_line(what, &e);
                    self.tally.found(behaviour, None, l);
                }
            }
        }
        let listed = match self
            .graph
            .list_attachments_with_cast(&creds, &owner, id)
            .await
        {
            Ok(list) => {
                let l = pass(self.tally.t(
                    "Vedhæftninger listes med $select=…/microsoft.graph.fileAttachment/contentId",
                    "Attachments are listed with $select=…/microsoft.graph.fileAttachment/contentId",
                ));
                self.tally
                    .found(Behaviour::AttachmentCastAccepted, Some(true), l);
                list
            }
            Err(GraphError::Rejected { status: 400, code }) => {
                let l = warn(
                    match self.tally.lang {
                        Lang::Da => format!("Typecast i $select afvises (400 {code})"),
                        Lang::En => format!("The type cast in $select is refused (400 {code})"),
                    },
                    self.tally.t("Booket lister så vedhæftninger uden $select (indholdet kommer med: langsommere, men det virker). Intet at gøre.", "Booket then lists attachments without $select (contents included: slower, but it works). Nothing to do."),
                );
                self.tally
                    .found(Behaviour::AttachmentCastAccepted, Some(false), l);
                match self.graph.list_attachments(&creds, &owner, id).await {
                    Ok(list) => list,
                    Err(e) => {
                        let l = self.err_line(
                            self.tally.t(
                                "Vedhæftninger kan ikke listes",
                                "Attachments cannot be listed",
                            ),
                            &e,
                        );
                        self.tally.lines.push(l);
                        return;
                    }
                }
            }
            Err(e) => {
                let l = self.err_line(
                    self.tally.t(
                        "Vedhæftninger kan ikke listes",
                        "Attachments cannot be listed",
                    ),
                    &e,
                );
                self.tally.found(Behaviour::AttachmentCastAccepted, None, l);
                return;
            }
        };
        for (name, aid, behaviour) in &ids {
            let how = match behaviour {
                Behaviour::ContentIdKeptSmall => self.tally.t("én POST", "one POST"),
                _ => self.tally.t("upload session", "upload session"),
            };
            let seen = listed.iter().find(|a| &a.id == aid || a.name == *name);
            let kept = seen.is_some_and(|a| a.content_id.as_deref() == Some(tag.as_str()));
            let line = if kept {
                pass(match self.tally.lang {
                    Lang::Da => format!("contentId bevares på en fil tilføjet med {how}"),
                    Lang::En => format!("contentId is kept on a file added with {how}"),
                })
            } else {
                pass(match self.tally.lang {
                    Lang::Da => format!("contentId bevares ikke på en fil tilføjet med {how}: Booket finder sine filer ved de id'er, den registrerer i hold-posten (intet at gøre)"),
                    Lang::En => format!("contentId is not kept on a file added with {how}: Booket finds its files by the ids it records in the hold (nothing to do)"),
                })
            };
            self.tally.found(*behaviour, Some(kept), line);
        }
        // Delete by id: the listed id where the upload gave none (no Location header).
        let mut all_gone = true;
        for (name, aid, _) in &ids {
            let id_to_delete = listed
                .iter()
                .find(|a| &a.id == aid || a.name == *name)
                .map(|a| a.id.clone())
                .unwrap_or_else(|| aid.clone());
            if self
                .graph
                .delete_attachment(&creds, &owner, id, &id_to_delete)
                .await
                .is_err()
            {
                all_gone = false;
            }
        }
        let left = self
            .graph
            .list_attachments(&creds, &owner, id)
            .await
            .map(|l| l.len())
            .unwrap_or(usize::MAX);
        let b = Behaviour::AttachmentDeletedById;
        if ids.is_empty() {
            return;
        }
        if all_gone && left == 0 {
            let l = pass(self.tally.t(
                "Vedhæftninger slettes ved deres id",
                "Attachments are deleted by their id",
            ));
            self.tally.found(b, Some(true), l);
        } else {
            let l = fail(
                self.tally.t("Vedhæftninger kunne ikke slettes ved deres id", "Attachments could not be deleted by their id"),
                self.tally.t("Booket kan så ikke fjerne en borgers filer, når en reservation udløber. Tjek Calendars.ReadWrite og kør igen.", "Booket then cannot remove a citizen's files when a hold lapses. Check Calendars.ReadWrite and run again."),
            );
            self.tally.found(b, Some(false), l);
        }
    }

    /// Reports what the last chunk of the upload session pointed to.
    pub(super) fn upload_location(&mut self, added: &crate::graph::Added) {
        let shown = added.location.as_deref().unwrap_or("-");
        let named = added.id.is_some();
        let l = pass(match (self.tally.lang, named) {
            (Lang::Da, true) => format!("Upload-sessionens Location navngiver vedhæftningen: {shown}"),
            (Lang::Da, false) => format!("Upload-sessionens Location navngiver ingen vedhæftning Booket kan læse ({shown}): Booket finder id'et ved at liste aftalens vedhæftninger (intet at gøre)"),
            (Lang::En, true) => format!("The upload session's Location names the attachment: {shown}"),
            (Lang::En, false) => format!("The upload session's Location names no attachment Booket can read ({shown}): Booket learns the id by listing the event's attachments (nothing to do)"),
        });
        self.tally
            .found(Behaviour::UploadLocationNamesId, Some(named), l);
    }
}
