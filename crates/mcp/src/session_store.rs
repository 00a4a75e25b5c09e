//! rmcp's `SessionStore`, backed by Guidepost's store: a node that does not hold a
//! session in memory restores it from the stored `initialize` parameters.

use std::sync::Arc;

use guidepost_core::Store;
use rmcp::model::InitializeRequestParams;
use rmcp::transport::streamable_http_server::session::{
    SessionState, SessionStore, SessionStoreError,
};

pub(crate) struct StoredSessions {
    store: Arc<dyn Store>,
}

impl StoredSessions {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

#[async_trait::async_trait]
impl SessionStore for StoredSessions {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let Some(state) = self.store.session_transport_state(session_id).await? else {
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
        Ok(self.store.delete_session(session_id).await?)
    }
}
