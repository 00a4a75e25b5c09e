//! How this node asks interceptors (`core::guardrails::intercept`): POSTs through the
//! outbound fence (public addresses only, unless `--webhook-allow-private`, the setting
//! webhooks use: an interceptor is a webhook that answers), each request bounded by its
//! interceptor's timeout, its answer read up to a size bound.

use std::time::Duration;

use async_trait::async_trait;
use guidepost_core::guardrails::intercept::{HookFault, HookReply, HookTransport};

/// The largest interceptor answer read: a rewritten result may be large, not unbounded.
const ANSWER_MAX: usize = 1024 * 1024;

pub struct FencedHooks {
    client: reqwest::Client,
    allow_private: bool,
}

impl FencedHooks {
    pub fn new(allow_private: bool) -> Self {
        Self {
            // Each request sets its own, shorter timeout; this bounds a forgotten one.
            client: guidepost_outbound::fenced_client(allow_private, Duration::from_secs(30)),
            allow_private,
        }
    }
}

#[async_trait]
impl HookTransport for FencedHooks {
    async fn exchange(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: &str,
        timeout: Duration,
    ) -> Result<HookReply, HookFault> {
        let refusals = guidepost_outbound::Refusals {
            plain_http: "plain http is sent only with --webhook-allow-private",
            private_address: "interceptors are asked at public addresses only",
        };
        guidepost_outbound::check_literal(url, self.allow_private, &refusals)
            .map_err(|refused| HookFault::Refused(refused.to_string()))?;
        let millis = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let exchange = async {
            let mut request = self.client.post(url).body(body.to_owned());
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            let no_answer =
                |error: reqwest::Error| HookFault::NoAnswer(guidepost_outbound::describe(&error));
            let mut response = request.send().await.map_err(no_answer)?;
            let status = response.status().as_u16();
            let mut answer = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(no_answer)? {
                if answer.len() + chunk.len() > ANSWER_MAX {
                    return Err(HookFault::TooLarge(ANSWER_MAX));
                }
                answer.extend_from_slice(&chunk);
            }
            let body = String::from_utf8(answer)
                .map_err(|_| HookFault::NoAnswer("the answer is not UTF-8".into()))?;
            Ok(HookReply { status, body })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| HookFault::TimedOut(millis))?
    }
}
