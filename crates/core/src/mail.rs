//! Mail the platform sends to people (sign-in codes, invitations). Core decides what is
//! sent; the binary provides how (`guidepost_auth`'s mailer: SMTP or an `.eml` outbox),
//! because core makes no network requests of its own.

use async_trait::async_trait;
use guidepost_domain::Email;

#[async_trait]
pub trait Mail: Send + Sync {
    /// Sends one plain-text message.
    async fn send(&self, to: &Email, subject: &str, body: &str) -> Result<(), MailError>;
}

/// Why a message was not sent. Core logs it; the sign-in page shows it to the person
/// waiting for their code, so it says nothing of the platform's setup.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The message could not be put together (an address or a header the mail format
    /// refuses): the transport's own words.
    #[error("{0}")]
    Unwritable(String),
    #[error("the mail server refused the message")]
    Refused,
    /// Development's outbox (a directory of `.eml` files) could not be written.
    #[error("the mail outbox cannot be written")]
    OutboxUnwritable,
}
