//! Mail through Graph (`sendMail`).

use super::client::Req;
use super::error::GraphError;
use super::{AppCredentials, GraphClient};
use reqwest::Method;

impl GraphClient {
    /// `sendMail` (202 Accepted: accepted, not yet delivered).
    pub async fn send_mail(
        &self,
        creds: &AppCredentials,
        user: &str,
        message: serde_json::Value,
    ) -> Result<(), GraphError> {
        self.send(
            creds,
            Req {
                method: Method::POST,
                url: self.url(&["users", user, "sendMail"], &[]),
                if_match: None,
                json: Some(serde_json::json!({ "message": message, "saveToSentItems": true })),
                replayable: false,
            },
        )
        .await
        .map(|_| ())
    }
}
