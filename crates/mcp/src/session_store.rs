//! rmcp's `SessionStore`, backed by Guidepost's store: a node that does not hold a
//! session in memory restores it from the stored `initialize` parameters.

use guidepost_core::{Platform, hosting::sessions};
use rmcp::model::InitializeRequestParams;
use rmcp::transport::streamable_http_server::session::{
    SessionState, SessionStore, SessionStoreError,
};

pub(crate) struct StoredSessions {
    platform: Platform,
}

impl StoredSessions {
    pub fn new(platform: Platform) -> Self {
        Self { platform }
    }
}

#[async_trait::async_trait]
impl SessionStore for StoredSessions {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let state = sessions::transport_state(&self.platform, session_id).await;
        let Some(state) = state? else {
            return Ok(None);
        };
        let params: InitializeRequestParams = serde_json::from_str(&state)?;
        Ok(Some(SessionState::new(params)))
    }

    /// Nothing to do: the gate stores the session, with its tenant, which rmcp does not
    /// know, before the `initialize` response leaves the node.
    async fn store(
        &self,
        _session_id: &str,
        _state: &SessionState,
    ) -> Result<(), SessionStoreError> {
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        sessions::end(&self.platform, session_id)
            .await
            .map_err(Into::into)
    }
}
