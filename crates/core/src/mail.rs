//! Mail the platform sends to people (sign-in codes, invitations). Core decides what is
//! sent; the binary provides how (`guidepost_auth`'s mailer: SMTP or an `.eml` outbox),
//! because core makes no network requests of its own.

use async_trait::async_trait;
use guidepost_domain::Email;

#[async_trait]
pub trait Mail: Send + Sync {
    /// Sends one plain-text message; the error is for logs.
    async fn send(&self, to: &Email, subject: &str, body: &str) -> Result<(), String>;
}
