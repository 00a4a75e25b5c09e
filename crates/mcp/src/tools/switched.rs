//! A source of one tool of Guidepost's own that a server offers while one of its settings
//! is on (`get_support`, `send_feedback`): the definition, the setting and the call are
//! the tool's; listing and finding it are the same for each.

use async_trait::async_trait;
use guidepost_core::{CoreError, Platform};
use guidepost_domain::McpServer;
use rmcp::model::Tool;

use super::{ResolvedTool, ToolSource};

/// One tool, offered on a server while `offered_on` says so.
pub(crate) struct SwitchedTool {
    /// Its name, as the one-element list `own_names` answers.
    pub names: &'static [&'static str],
    pub offered_on: fn(&McpServer) -> bool,
    pub definition: fn(&McpServer) -> Tool,
    /// The tool, found for a call.
    pub found: fn() -> Box<dyn ResolvedTool>,
}

#[async_trait]
impl ToolSource for SwitchedTool {
    async fn list(&self, _platform: &Platform, server: &McpServer) -> Result<Vec<Tool>, CoreError> {
        Ok(if (self.offered_on)(server) {
            vec![(self.definition)(server)]
        } else {
            Vec::new()
        })
    }

    fn own_names(&self) -> &'static [&'static str] {
        self.names
    }

    async fn resolve(
        &self,
        _platform: &Platform,
        server: &McpServer,
        name: &str,
    ) -> Result<Option<Box<dyn ResolvedTool>>, CoreError> {
        let offered = self.names.contains(&name) && (self.offered_on)(server);
        Ok(offered.then(self.found))
    }
}
