//! Sign-in mail. With `--smtp-url` it goes through an SMTP server (lettre); without it,
//! every message is written as an `.eml` file to `--mail-outbox` and logged, for
//! development and tests. In outbox mode the log line includes the one-time code, at info
//! level: acceptable for development, where the outbox holds the same code anyway; a
//! production deployment sets `--smtp-url`, and then codes are never logged.

use std::path::PathBuf;
use std::time::Duration;

use guidepost_domain::{Email, Timestamp, random_token};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::{AuthOptions, SetupError};

const SEND_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(PathBuf),
}

pub(crate) struct Mailer {
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
    pub async fn send_code(&self, mail: &CodeMail<'_>) -> Result<(), String> {
        let to: Mailbox = mail.to.as_str().parse().map_err(|e| format!("{e}"))?;
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
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| format!("{e}"))?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message).await.map_err(|e| {
                    tracing::warn!(error = %e, "could not send a sign-in code by SMTP");
                    "the mail server refused the message".to_owned()
                })?;
                tracing::info!(to = %mail.to, "sent a sign-in code by SMTP");
            }
            Transport::Outbox(dir) => {
                let path = write_to_outbox(dir, &message.formatted()).await?;
                // Development only (no SMTP configured): the code is in the log on purpose.
                tracing::info!(
                    to = %mail.to,
                    code = %mail.code,
                    path = %path.display(),
                    "no SMTP server configured: wrote the sign-in mail to the outbox"
                );
            }
        }
        metrics::counter!("guidepost_oauth_codes_sent_total").increment(1);
        Ok(())
    }
}

async fn write_to_outbox(dir: &PathBuf, message: &[u8]) -> Result<PathBuf, String> {
    tokio::fs::create_dir_all(dir).await.map_err(|e| {
        tracing::error!(error = %e, dir = %dir.display(), "cannot create the mail outbox");
        "the mail outbox cannot be written".to_owned()
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
        "the mail outbox cannot be written".to_owned()
    })?;
    Ok(path)
}
