//! An upstream's way out to the network, through the egress fence: none, any address the
//! fence allows (public ones, private ones where the operator allows them), or only the
//! hosts the entry names. Written as `false`, `true`, or `{ allow = ["api.github.com"] }`,
//! so that specs stored before the allow list read as they were.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where an upstream may connect, through the egress fence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Network {
    /// No network at all (only loopback in its own namespace).
    #[default]
    None,
    /// Any address the fence allows.
    Open,
    /// Only these host names (lower case), each still at an address the fence allows.
    Only(Vec<String>),
}

impl Network {
    /// The most hosts one allow list names.
    pub const MAX_HOSTS: usize = 20;

    /// Whether it has a way out at all.
    pub fn is_on(&self) -> bool {
        !matches!(self, Network::None)
    }

    /// The hosts it is limited to, if it is.
    pub fn allowed_hosts(&self) -> Option<&[String]> {
        match self {
            Network::Only(hosts) => Some(hosts),
            Network::None | Network::Open => None,
        }
    }

    /// An allow list, checked: 1 to [`Self::MAX_HOSTS`] DNS names (letters, digits,
    /// `-` and `.`, at most 253 characters; no IP addresses, ports or wildcards), folded
    /// to lower case, each once.
    pub fn only(hosts: Vec<String>) -> Result<Self, String> {
        if hosts.is_empty() || hosts.len() > Self::MAX_HOSTS {
            return Err(format!(
                "network.allow names 1 to {} hosts, not {}",
                Self::MAX_HOSTS,
                hosts.len()
            ));
        }
        let mut kept: Vec<String> = Vec::with_capacity(hosts.len());
        for host in hosts {
            let host = host.trim_end_matches('.').to_ascii_lowercase();
            if !is_host_name(&host) {
                return Err(format!(
                    "network.allow: {host:?} is not a host name (letters, digits, - and ., \
                     no address, port or wildcard)"
                ));
            }
            if !kept.contains(&host) {
                kept.push(host);
            }
        }
        Ok(Network::Only(kept))
    }
}

/// A DNS name with at least one letter (so that no IP address passes as one).
fn is_host_name(host: &str) -> bool {
    let labels_fit = host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    !host.is_empty()
        && host.len() <= 253
        && labels_fit
        && host.bytes().any(|b| b.is_ascii_alphabetic())
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowList {
    allow: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Written {
    Flag(bool),
    Allow(AllowList),
}

impl Serialize for Network {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Network::None => serializer.serialize_bool(false),
            Network::Open => serializer.serialize_bool(true),
            Network::Only(hosts) => AllowList {
                allow: hosts.clone(),
            }
            .serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let written = Written::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom(
                "network is true, false, or { allow = [\"host\", …] } (an object with `allow`)",
            )
        })?;
        match written {
            Written::Flag(false) => Ok(Network::None),
            Written::Flag(true) => Ok(Network::Open),
            Written::Allow(list) => Network::only(list.allow).map_err(serde::de::Error::custom),
        }
    }
}

/// `true`, `false`, or `{"allow": [hosts]}`.
impl utoipa::PartialSchema for Network {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
        let hosts = ArrayBuilder::new()
            .items(ObjectBuilder::new().schema_type(Type::String))
            .min_items(Some(1))
            .max_items(Some(Self::MAX_HOSTS));
        let allow = ObjectBuilder::new()
            .property("allow", hosts)
            .required("allow");
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(allow)
            .description(Some(
                "A way out through the egress fence: none (false), any address it allows \
                 (true), or only the named hosts ({\"allow\": [\"api.github.com\"]}).",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Network {}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn flags_read_as_before_and_an_allow_list_is_checked() {
        let read = |value: serde_json::Value| serde_json::from_value::<Network>(value);
        assert_eq!(read(json!(false)).unwrap(), Network::None);
        assert_eq!(read(json!(true)).unwrap(), Network::Open);
        let only = read(json!({"allow": ["API.github.com.", "api.github.com", "a-b.example"]}));
        let only = only.unwrap();
        assert_eq!(
            only.allowed_hosts().unwrap(),
            ["api.github.com", "a-b.example"]
        );
        assert_eq!(
            serde_json::to_value(&only).unwrap(),
            json!({"allow": ["api.github.com", "a-b.example"]})
        );
        assert_eq!(serde_json::to_value(Network::Open).unwrap(), json!(true));
        for bad in [
            json!({"allow": []}),
            json!({"allow": ["10.0.0.1"]}),
            json!({"allow": ["*.example.com"]}),
            json!({"allow": ["example.com:443"]}),
            json!({"allow": ["example.com"], "deny": []}),
            json!("yes"),
        ] {
            assert!(read(bad.clone()).is_err(), "{bad}");
        }
        let many: Vec<String> = (0..=Network::MAX_HOSTS)
            .map(|n| format!("h{n}.example"))
            .collect();
        assert!(read(json!({ "allow": many })).is_err());
    }
}
