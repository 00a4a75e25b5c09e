//! A server's identity provider as its page shows it ([`ProviderPanel`]) and as its form
//! posts it ([`ProviderForm`]); the handlers that set and remove it are
//! `identity_provider`'s.

use guidepost_core::accounts::oidc::{MissingSecret, OidcInput, OidcView};
use serde::Deserialize;

use crate::page::{self, PageError};

/// The provider form as posted. Checkboxes are absent when unticked.
#[derive(Deserialize)]
pub(crate) struct ProviderForm {
    #[serde(default)]
    issuer_url: String,
    #[serde(default)]
    client_id: String,
    /// Blank keeps the stored secret (unless `public_client`).
    #[serde(default)]
    client_secret: String,
    /// No secret at all: a public client, PKCE only.
    #[serde(default)]
    public_client: Option<String>,
    #[serde(default)]
    accept_unverified_email: Option<String>,
}

/// What the server's page shows of its provider, and the form's values.
pub(crate) struct ProviderPanel {
    /// Whether a provider is stored.
    pub stored: bool,
    pub issuer_url: String,
    pub client_id: String,
    pub client_secret_set: bool,
    pub accept_unverified_email: bool,
    /// The callback addresses to register for the client at the provider.
    pub redirect_uris: Vec<String>,
    /// Whether the platform can store a client secret (it has a master key).
    pub can_seal: bool,
}

impl ProviderPanel {
    /// From the stored provider, or the form as posted when it was refused.
    pub fn new(
        stored: Option<&OidcView>,
        posted: Option<&ProviderForm>,
        redirect_uris: Vec<String>,
        can_seal: bool,
    ) -> Self {
        let mut panel = ProviderPanel {
            stored: stored.is_some(),
            issuer_url: stored.map(|s| s.issuer_url.clone()).unwrap_or_default(),
            client_id: stored.map(|s| s.client_id.clone()).unwrap_or_default(),
            client_secret_set: stored.is_some_and(|s| s.client_secret_set),
            accept_unverified_email: stored.is_some_and(|s| s.accept_unverified_email),
            redirect_uris,
            can_seal,
        };
        if let Some(form) = posted {
            panel.issuer_url.clone_from(&form.issuer_url);
            panel.client_id.clone_from(&form.client_id);
            panel.accept_unverified_email = form.accept_unverified_email.is_some();
        }
        panel
    }
}

impl ProviderForm {
    /// A typed secret for a client declared public is a contradiction, not ignored.
    pub(crate) fn input(&self) -> Result<OidcInput, PageError> {
        let secret = page::optional(&self.client_secret);
        if secret.is_some() && self.public_client.is_some() {
            return Err(PageError::Invalid {
                field: "client_secret".into(),
                message: "a public client has none: leave it blank, or untick \
                          \"A public client\""
                    .into(),
            });
        }
        Ok(OidcInput {
            issuer_url: self.issuer_url.trim().to_owned(),
            client_id: self.client_id.trim().to_owned(),
            client_secret: secret,
            accept_unverified_email: self.accept_unverified_email.is_some(),
        })
    }

    /// A blank secret keeps the stored one, unless the client is declared public.
    pub(crate) fn missing_secret(&self) -> MissingSecret {
        if self.public_client.is_some() {
            MissingSecret::Remove
        } else {
            MissingSecret::Keep
        }
    }
}
