//! Sign-in mail. With `--smtp-url` it goes through an SMTP server (lettre); without it,
//! every message is written as an `.eml` file to `--mail-outbox` and logged, for
//! development and tests. In outbox mode the log line includes the one-time code, at info
//! level: acceptable for development, where the outbox holds the same code anyway; a
//! production deployment sets `--smtp-url`, and then codes are never logged.

use std::path::PathBuf;
use std::time::Duration;

use guidepost_core::mail::MailError;
use guidepost_domain::{Email, Timestamp, random_token};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tracing::Instrument;

use crate::{AuthOptions, SetupError};

const SEND_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(PathBuf),
}

pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

/// What the person reads: who asks, the code, and how long it lasts.
pub(crate) struct CodeMail<'a> {
    pub to: &'a Email,
    pub code: &'a str,
    pub server_name: &'a str,
    pub valid_minutes: i64,
}

impl Mailer {
    pub fn new(options: &AuthOptions) -> Result<Self, SetupError> {
        let from: Mailbox = options
            .mail_from
            .parse()
            .map_err(|e| SetupError::From(format!("{e}")))?;
        let transport = match &options.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| SetupError::Smtp(e.to_string()))?
                    .timeout(Some(SEND_TIMEOUT))
                    .build(),
            ),
            None => Transport::Outbox(options.mail_outbox.clone()),
        };
        Ok(Self { transport, from })
    }

    /// Sends a one-time sign-in code.
    pub(crate) async fn send_code(&self, mail: &CodeMail<'_>) -> Result<(), MailError> {
        let subject = format!(
            "{} is your sign-in code for {}",
            mail.code, mail.server_name
        );
        let body = format!(
            "Your code to sign in to {server} is:\n\n    {code}\n\n\
             Enter it on the sign-in page. It expires in {minutes} minutes and works once.\n\n\
             If you did not try to sign in, ignore this message: nobody can sign in without \
             the code.\n",
            server = mail.server_name,
            code = mail.code,
            minutes = mail.valid_minutes,
        );
        self.send_text(mail.to, &subject, &body).await?;
        metrics::counter!("guidepost_oauth_codes_sent_total").increment(1);
        Ok(())
    }

    /// Sends one plain-text message. In outbox mode (development) the subject is logged,
    /// and sign-in subjects carry their code there on purpose.
    pub async fn send_text(&self, to: &Email, subject: &str, body: &str) -> Result<(), MailError> {
        // The address stays out of the span: traces leave the platform.
        let transport = match &self.transport {
            Transport::Smtp(_) => "smtp",
            Transport::Outbox(_) => "outbox",
        };
        let span = tracing::debug_span!(
            "mail send",
            otel.kind = "client",
            guidepost.mail.transport = transport
        );
        self.send_in_span(to, subject, body).instrument(span).await
    }

    async fn send_in_span(&self, to: &Email, subject: &str, body: &str) -> Result<(), MailError> {
        let unwritable = |e: &dyn std::fmt::Display| MailError::Unwritable(e.to_string());
        let mailbox: Mailbox = to.as_str().parse().map_err(|e| unwritable(&e))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(mailbox)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|e| unwritable(&e))?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message).await.map_err(|e| {
                    tracing::warn!(error = %e, "could not send mail by SMTP");
                    MailError::Refused
                })?;
                tracing::info!(%to, "sent mail by SMTP");
            }
            Transport::Outbox(dir) => {
                let path = write_to_outbox(dir, &message.formatted()).await?;
                tracing::info!(
                    %to,
                    %subject,
                    path = %path.display(),
                    "no SMTP server configured: wrote the mail to the outbox"
                );
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl guidepost_core::mail::Mail for Mailer {
    async fn send(&self, to: &Email, subject: &str, body: &str) -> Result<(), MailError> {
        self.send_text(to, subject, body).await
    }
}

async fn write_to_outbox(dir: &PathBuf, message: &[u8]) -> Result<PathBuf, MailError> {
    tokio::fs::create_dir_all(dir).await.map_err(|e| {
        tracing::error!(error = %e, dir = %dir.display(), "cannot create the mail outbox");
        MailError::OutboxUnwritable
    })?;
    let name = format!(
        "{}-{}.eml",
        Timestamp::now().micros(),
        random_token("")
            .to_ascii_lowercase()
            .get(..12)
            .unwrap_or("mail")
    );
    let path = dir.join(name);
    tokio::fs::write(&path, message).await.map_err(|e| {
        tracing::error!(error = %e, path = %path.display(), "cannot write to the mail outbox");
        MailError::OutboxUnwritable
    })?;
    Ok(path)
}
