//! Support requests.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

/// Filters for listing support requests.
#[derive(Debug, Clone, Default)]
pub struct SupportRequestFilter {
    pub server_id: Option<ServerId>,
    pub status: Option<SupportStatus>,
    pub end_user_id: Option<EndUserId>,
}

#[async_trait]
pub trait SupportStore: Send + Sync {
    async fn create_support_request(
        &self,
        request: &NewSupportRequest,
        now: Timestamp,
    ) -> Result<SupportRequest>;
    async fn list_support_requests(
        &self,
        org: &OrgId,
        filter: &SupportRequestFilter,
        page: &PageRequest,
    ) -> Result<Page<SupportRequest>>;
    async fn get_support_request(
        &self,
        org: &OrgId,
        id: &SupportRequestId,
    ) -> Result<SupportRequest>;
    async fn update_support_request_status(
        &self,
        org: &OrgId,
        id: &SupportRequestId,
        status: SupportStatus,
        now: Timestamp,
    ) -> Result<SupportRequest>;
}
