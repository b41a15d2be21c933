//! The slice of configuration the core reads: Exchange's settings, the calendars, forms
//! and elements, mail and its limits, the upload limits and the hold cap. Listening,
//! proxies, budgets, receipts' keys and the like stay with the layers that use them.

use crate::config::{
    CalendarConfig, Config, ElementConfig, ExchangeConfig, FormConfig, MailConfig, MailLimits,
    UploadLimits,
};
use app::api::{ElementName, FormId};

#[derive(Debug, Clone)]
pub struct Settings {
    pub exchange: ExchangeConfig,
    pub calendars: Vec<CalendarConfig>,
    pub forms: Vec<FormConfig>,
    pub mail: MailConfig,
    pub mail_limits: MailLimits,
    pub uploads: UploadLimits,
    /// Active holds one client may have at once (`[server] max_holds_per_client`).
    pub max_holds_per_client: usize,
    /// Reserve, release and book calls per client and minute (`[server]
    /// rate_limit_per_minute`): counted in the shared store across instances.
    pub writes_per_minute: u32,
    /// Element and week calls per client and minute (`[server] read_rate_limit_per_minute`):
    /// counted in the shared store across instances too.
    pub reads_per_minute: u32,
}

impl From<&Config> for Settings {
    fn from(c: &Config) -> Self {
        Settings {
            exchange: c.exchange.clone(),
            calendars: c.calendars.clone(),
            forms: c.forms.clone(),
            mail: c.mail.clone(),
            mail_limits: c.mail_limits,
            uploads: c.server.uploads.clone(),
            max_holds_per_client: c.server.max_holds_per_client,
            writes_per_minute: c.server.rate_limit_per_minute,
            reads_per_minute: c.server.read_rate_limit_per_minute,
        }
    }
}

impl Settings {
    pub fn form(&self, id: &FormId) -> Option<&FormConfig> {
        self.forms.iter().find(|f| f.id == id.as_str())
    }

    pub fn calendar(&self, name: &str) -> Option<&CalendarConfig> {
        self.calendars.iter().find(|c| c.name == name)
    }

    pub fn element(
        &self,
        form: &FormId,
        element: &ElementName,
    ) -> Option<(&FormConfig, &ElementConfig)> {
        crate::config::element_in(&self.forms, form, element)
    }

    /// Every form's elements that book in `calendar` (its configured name).
    pub fn elements_in<'a>(&'a self, calendar: &'a str) -> impl Iterator<Item = &'a ElementConfig> {
        self.forms
            .iter()
            .flat_map(|f| &f.elements)
            .filter(move |e| e.calendar == calendar)
    }
}
