//! Guidepost's services: the operations that the MCP endpoint, the management API and
//! the CLI share. Each one validates its input, applies the rules and calls the store.
//!
//! Architecture invariant: no HTTP, no MCP and no SQL here. Callers hand in already
//! authenticated organization ids; every service passes them on to the store.

pub mod analytics;
mod config;
mod error;
pub mod identity;
pub mod servers;
pub mod support;

use std::sync::Arc;

pub use config::PlatformConfig;
pub use error::CoreError;
pub use guidepost_store::{Store, StoreError};

/// Everything a request needs: the store, the configuration and the analytics recorder.
#[derive(Clone)]
pub struct Platform {
    pub store: Arc<dyn Store>,
    pub config: Arc<PlatformConfig>,
    pub analytics: analytics::Recorder,
}
