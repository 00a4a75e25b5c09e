//! End users as organizations see them: listed and read through the API.

use guidepost_domain::*;
pub use guidepost_store::EndUserFilter;

use crate::{CoreError, Platform};

pub async fn list(
    platform: &Platform,
    org: &OrgId,
    filter: &EndUserFilter,
    page: &PageRequest,
) -> Result<Page<EndUser>, CoreError> {
    Ok(platform.store.list_end_users(org, filter, page).await?)
}

/// An end user with their sessions.
pub async fn get_with_sessions(
    platform: &Platform,
    org: &OrgId,
    id: &EndUserId,
) -> Result<(EndUser, Vec<McpSession>), CoreError> {
    let end_user = platform.store.get_end_user(org, id).await?;
    let sessions = platform.store.list_sessions_of_end_user(org, id).await?;
    Ok((end_user, sessions))
}
