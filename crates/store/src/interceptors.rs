//! An organization's interceptors: the HTTP services asked at call time.

use async_trait::async_trait;
use guidepost_domain::*;

use crate::Result;

/// An interceptor to register; its id is chosen by the caller, since its secret is
/// sealed to it.
#[derive(Debug, Clone)]
pub struct NewInterceptor {
    pub interceptor: Interceptor,
    pub secret_sealed: String,
}

/// An interceptor with its sealed signing secret, for the node that calls it.
#[derive(Debug, Clone)]
pub struct SealedInterceptor {
    pub interceptor: Interceptor,
    pub secret_sealed: String,
}

#[async_trait]
pub trait InterceptorStore: Send + Sync {
    /// Adds one, within the organization's cap (`OrgCap::Interceptors`).
    async fn create_interceptor(&self, new: &NewInterceptor) -> Result<Interceptor>;
    /// The organization's interceptors with their sealed secrets, in the order they are
    /// asked (oldest first).
    async fn interceptors(&self, org: &OrgId) -> Result<Vec<SealedInterceptor>>;
    async fn delete_interceptor(&self, org: &OrgId, id: &InterceptorId) -> Result<()>;
}
