//! DNS TXT lookups for custom-domain challenges (`guidepost_core::hosting::domains`): the system's
//! resolver (`/etc/resolv.conf`), or one server named by `--dns-resolver` (tests run
//! their own on loopback). Answers are not cached, so a record just published is seen
//! by the next verification.

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use guidepost_core::hosting::domains::{TxtLookupError, TxtRecords};
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};

/// The platform's TXT lookups; a resolver that could not be set up says why on use.
pub struct Dns {
    resolver: Result<TokioResolver, TxtLookupError>,
}

impl Dns {
    pub fn new(server: Option<SocketAddr>) -> Self {
        Self {
            resolver: build(server).map_err(|e| TxtLookupError::NoResolver(e.to_string())),
        }
    }
}

fn build(server: Option<SocketAddr>) -> Result<TokioResolver, hickory_resolver::net::NetError> {
    let provider = TokioRuntimeProvider::default();
    let mut builder = match server {
        Some(addr) => {
            let mut name_server = NameServerConfig::udp_and_tcp(addr.ip());
            for connection in &mut name_server.connections {
                connection.port = addr.port();
            }
            let config = ResolverConfig::from_name_servers(vec![name_server]);
            Resolver::builder_with_config(config, provider)
        }
        None => TokioResolver::builder(provider)?,
    };
    let options: &mut ResolverOpts = builder.options_mut();
    options.cache_size = 0;
    options.timeout = Duration::from_secs(3);
    options.attempts = 2;
    builder.build()
}

#[async_trait]
impl TxtRecords for Dns {
    async fn txt(&self, name: &str) -> Result<Vec<String>, TxtLookupError> {
        let resolver = self.resolver.as_ref().map_err(Clone::clone)?;
        // Fully qualified: no search domain is tried.
        let lookup = match resolver.txt_lookup(format!("{name}.")).await {
            Ok(lookup) => lookup,
            Err(error) if error.is_no_records_found() || error.is_nx_domain() => {
                return Ok(Vec::new());
            }
            Err(error) => return Err(TxtLookupError::Failed(error.to_string())),
        };
        let records = lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|part| String::from_utf8_lossy(part))
                        .collect::<String>(),
                ),
                _ => None,
            });
        Ok(records.collect())
    }
}
