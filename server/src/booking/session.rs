//! Signed-in citizens: the session token a form's backend signs, verified.

use super::hold::{self};
use super::Booket;
use app::domain::BookingError;
use chrono::{DateTime, Utc};

/// A citizen session token as a form's backend signs it (HS256): who, for which form,
/// until when.
#[derive(serde::Deserialize)]
struct SessionClaims {
    sub: String,
    exp: i64,
}

/// The longest a session token may be valid for, from now.
const MAX_SESSION_SECONDS: i64 = 12 * 3600;

impl Booket {
    /// The citizen a session token names (a hash of the form and its `sub`), if one came
    /// and the form has a key; a token that does not verify — wrong key, another form's,
    /// expired, or valid for too long — is refused.
    pub(super) fn citizen_of(
        &self,
        form: &app::api::FormId,
        session: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, BookingError> {
        if session.is_empty() {
            return Ok(None);
        }
        let refuse = || BookingError::invalid("session");
        let key = self
            .config
            .form(form)
            .and_then(|f| f.session_key.as_ref())
            .ok_or_else(refuse)?;
        crate::signing::ensure();
        let key = jsonwebtoken::DecodingKey::from_secret(
            secrecy::ExposeSecret::expose_secret(key).as_bytes(),
        )
        .map_err(|_| refuse())?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_audience(&[form]);
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        // Expiry is judged by Booket's clock, below.
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<SessionClaims>(session, &key, &validation)
            .map_err(|e| {
                tracing::warn!("a session token was refused: {:?}", e.kind());
                refuse()
            })?
            .claims;
        let left = claims.exp - now.timestamp();
        if left <= 0 || left > MAX_SESSION_SECONDS || claims.sub.is_empty() {
            return Err(refuse());
        }
        Ok(Some(hold::owner_hash(&format!(
            "{form}\u{1f}{}",
            claims.sub
        ))))
    }
}
