//! A registry entry's secret arguments (`${secret.NAME}`, a whole argument): filled with
//! the installation's secret only in the argument list handed to the process as it
//! starts, and then not also put in its environment (docs/SECURITY.md says why).

use std::collections::BTreeMap;

use guidepost_domain::{LaunchSpec, secret_of_argument};

/// A secret a launch's arguments stand for that the installation has not set.
#[derive(Debug, thiserror::Error)]
#[error("the secret {name} is not set")]
pub(crate) struct SecretNotSet {
    name: String,
}

/// The secrets a launch's arguments stand for (`${secret.NAME}`, a whole argument), with
/// their values: put in the command line only here, as the process is started.
pub(crate) struct ArgumentSecrets<'a> {
    values: BTreeMap<&'a str, &'a str>,
}

impl<'a> ArgumentSecrets<'a> {
    pub(crate) fn of(
        spec: &'a LaunchSpec,
        secrets: &'a BTreeMap<String, String>,
    ) -> Result<Self, SecretNotSet> {
        let mut values = BTreeMap::new();
        for name in spec.args().iter().filter_map(|a| secret_of_argument(a)) {
            let value = secrets
                .get(name)
                .ok_or_else(|| SecretNotSet { name: name.into() })?;
            values.insert(name, value.as_str());
        }
        Ok(Self { values })
    }

    /// The value of an argument that stands for a secret.
    pub(crate) fn value_of(&self, argument: &str) -> Option<String> {
        let name = secret_of_argument(argument)?;
        self.values.get(name).map(|value| (*value).to_owned())
    }

    pub(crate) fn carries(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
}
