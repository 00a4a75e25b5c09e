//! The API's routes are added through a [`RouteTable`], which remembers each path as it
//! forwards it to axum's `Router` (a `Router` cannot be asked which paths it has). The
//! authorization walk in the integration tests reads [`crate::route_paths`], so a route
//! cannot be added without that test trying it.

use axum::Router;
use axum::routing::MethodRouter;

pub(crate) struct RouteTable<S> {
    router: Router<S>,
    paths: Vec<&'static str>,
}

impl<S: Clone + Send + Sync + 'static> RouteTable<S> {
    pub(crate) fn new() -> Self {
        Self {
            router: Router::new(),
            paths: Vec::new(),
        }
    }

    /// [`Router::route`], remembering `path`.
    pub(crate) fn route(mut self, path: &'static str, method_router: MethodRouter<S>) -> Self {
        self.router = self.router.route(path, method_router);
        self.paths.push(path);
        self
    }

    pub(crate) fn paths(&self) -> &[&'static str] {
        &self.paths
    }

    pub(crate) fn into_router(self) -> Router<S> {
        self.router
    }
}
