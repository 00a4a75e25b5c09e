//! The dashboard's routes are added through a [`RouteTable`], which remembers each path
//! as it forwards it to axum's `Router` (a `Router` cannot be asked which paths it has).
//! The authorization walk in the integration tests reads [`crate::route_paths`], so a
//! route cannot be added without that test trying it.

use axum::Router;
use axum::handler::Handler;
use axum::routing::MethodRouter;

pub(crate) struct RouteTable<S> {
    router: Router<S>,
    paths: Vec<String>,
}

impl<S: Clone + Send + Sync + 'static> RouteTable<S> {
    pub(crate) fn new() -> Self {
        Self {
            router: Router::new(),
            paths: Vec::new(),
        }
    }

    /// [`Router::route`], remembering `path`.
    pub(crate) fn route(mut self, path: &str, method_router: MethodRouter<S>) -> Self {
        self.router = self.router.route(path, method_router);
        self.paths.push(path.to_owned());
        self
    }

    /// [`Router::merge`] of another table's routes.
    pub(crate) fn merge(mut self, other: Self) -> Self {
        self.router = self.router.merge(other.router);
        self.paths.extend(other.paths);
        self
    }

    /// [`Router::nest`] of `inner` under `prefix`, with `fallback` answering the paths
    /// under `prefix` that `inner` does not serve. Nested, `inner`'s `/` is `prefix` itself.
    pub(crate) fn nest<H, T>(mut self, prefix: &str, inner: Self, fallback: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        self.router = self.router.nest(prefix, inner.router.fallback(fallback));
        let nested = inner.paths.iter().map(|path| match path.as_str() {
            "/" => prefix.to_owned(),
            path => format!("{prefix}{path}"),
        });
        self.paths.extend(nested);
        self
    }

    pub(crate) fn paths(&self) -> &[String] {
        &self.paths
    }

    pub(crate) fn into_router(self) -> Router<S> {
        self.router
    }
}
