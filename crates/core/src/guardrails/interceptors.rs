//! Registering an organization's interceptors (`intercept` asks them at call time): a
//! URL checked like a webhook's, the phases it is asked on, how long a call waits for it,
//! what a call meets when it fails, and whether its answers are carried out or only
//! audited. Its signing secret is shown once and kept sealed.

use guidepost_domain::*;
use guidepost_store::NewInterceptor;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{self, Object};
use crate::{Caller, CoreError, Permission, Platform};

/// What `POST /api/v1/interceptors` takes.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InterceptorInput {
    /// Unique in the organization, at most 100 characters.
    pub name: String,
    /// An `https://…` URL on a public address, at most 2048 characters (`http://` and
    /// private addresses only where the operator allows them, as for webhooks).
    pub url: String,
    /// `request`, `result`, or both.
    #[schema(value_type = Vec<String>)]
    pub phases: Vec<InterceptPhase>,
    /// Milliseconds a call waits for the answer: 50 to 10000 (default 2000).
    #[serde(default)]
    pub timeout_ms: Option<u32>,
    /// `open` (default: the call goes on) or `closed` (refused) when the interceptor
    /// does not answer as the contract says.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub on_failure: Option<InterceptFailure>,
    /// `enforce` (default) or `audit` (answers only recorded).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub mode: Option<InterceptMode>,
}

/// A new interceptor with its secret, which is shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedInterceptor {
    #[serde(flatten)]
    pub interceptor: Interceptor,
    /// The signing secret (`icsec_…`) of `Guidepost-Signature`. Store it now.
    pub secret: String,
}

const NAME_MAX: usize = 100;

/// The sealing context of an interceptor's secret: it opens only on its interceptor.
pub(crate) fn sealing_context(org: &OrgId, id: &InterceptorId) -> String {
    format!("interceptor:{org}:{id}")
}

/// Registers an interceptor. Who runs the gateway may: it judges the calls relayed.
pub async fn create(
    platform: &Platform,
    caller: &Caller,
    input: InterceptorInput,
) -> Result<CreatedInterceptor, CoreError> {
    caller.require(Permission::Gateway)?;
    let allow_private = platform.config.webhooks_allow_private;
    let interceptor = checked(caller.org(), input, allow_private)?;
    let Some(key) = &platform.config.master_key else {
        let message = "cannot be created: this platform runs without a master key to keep the \
                       signing secret (start it with --master-key or GUIDEPOST_MASTER_KEY)";
        return Err(ValidationError::new("interceptor", message).into());
    };
    let secret = random_token("icsec_");
    let context = sealing_context(&interceptor.org_id, &interceptor.id);
    let new = NewInterceptor {
        secret_sealed: key.seal(&secret, &context),
        interceptor,
    };
    let interceptor = platform.store.create_interceptor(&new).await?;
    audit_change(
        platform,
        caller,
        AuditAction::InterceptorCreated,
        &interceptor,
    )
    .await?;
    super::policies::announce_organization(platform, caller.org()).await?;
    Ok(CreatedInterceptor {
        interceptor,
        secret,
    })
}

fn checked(
    org: &OrgId,
    input: InterceptorInput,
    allow_private: bool,
) -> Result<Interceptor, ValidationError> {
    let name = input.name.trim().to_owned();
    validate_text("name", &name, NAME_MAX)?;
    let url = crate::support::webhooks::validate_url(&input.url, allow_private)?;
    let mut phases = Vec::new();
    for phase in input.phases {
        if !phases.contains(&phase) {
            phases.push(phase);
        }
    }
    if phases.is_empty() {
        return Err(ValidationError::new(
            "phases",
            "name request, result, definition, or several",
        ));
    }
    let (shortest, longest, default) = INTERCEPT_TIMEOUT_MS;
    let timeout_ms = input.timeout_ms.unwrap_or(default);
    if !(shortest..=longest).contains(&timeout_ms) {
        let message = format!("must be from {shortest} to {longest} milliseconds");
        return Err(ValidationError::new("timeout_ms", message));
    }
    Ok(Interceptor {
        id: InterceptorId::generate(),
        org_id: org.clone(),
        name,
        url,
        phases,
        timeout_ms,
        on_failure: input.on_failure.unwrap_or(InterceptFailure::Open),
        mode: input.mode.unwrap_or(InterceptMode::Enforce),
        created_at: Timestamp::now(),
    })
}

const OPERATOR_SECRET: (usize, usize) = (32, 512);

/// The operator's interceptors from their file: a JSON array of objects with the fields of
/// `POST /api/v1/interceptors` and a `secret` (32 to 512 characters), at most as many as
/// an organization may register, with distinct names.
pub fn operator_interceptors(
    text: &str,
    allow_private: bool,
) -> Result<Vec<OperatorInterceptor>, ValidationError> {
    const FIELD: &str = "operator_interceptors";
    let entries: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_str(text)
        .map_err(|error| {
            ValidationError::new(FIELD, format!("not a JSON array of objects: {error}"))
        })?;
    if entries.len() > Limits::INTERCEPTORS {
        let message = format!("at most {} interceptors", Limits::INTERCEPTORS);
        return Err(ValidationError::new(FIELD, message));
    }
    let operator = OrgId::from_trusted("operator".to_owned());
    let mut found: Vec<OperatorInterceptor> = Vec::new();
    for (n, mut entry) in entries.into_iter().enumerate() {
        let invalid = |field: &str, message: &str| {
            ValidationError::new(FIELD, format!("entry {n}, {field}: {message}"))
        };
        let secret = match entry.remove("secret") {
            Some(serde_json::Value::String(secret)) => secret,
            _ => return Err(invalid("secret", "a string is required")),
        };
        let (shortest, longest) = OPERATOR_SECRET;
        if !(shortest..=longest).contains(&secret.len()) {
            let message = format!("{shortest} to {longest} characters");
            return Err(invalid("secret", &message));
        }
        let input: InterceptorInput = serde_json::from_value(entry.into())
            .map_err(|error| invalid("fields", &error.to_string()))?;
        let mut interceptor = checked(&operator, input, allow_private)
            .map_err(|error| invalid(error.field, &error.message))?;
        if found
            .iter()
            .any(|other| other.interceptor.name == interceptor.name)
        {
            return Err(invalid("name", "another entry has this name"));
        }
        interceptor.id =
            InterceptorId::from_trusted(format!("{}{n}", OperatorInterceptor::ID_PREFIX));
        found.push(OperatorInterceptor {
            interceptor,
            secret,
        });
    }
    Ok(found)
}

/// The organization's interceptors, in the order they are asked.
pub async fn list(platform: &Platform, caller: &Caller) -> Result<Vec<Interceptor>, CoreError> {
    let stored = platform.store.interceptors(caller.org()).await?;
    Ok(stored
        .into_iter()
        .map(|sealed| sealed.interceptor)
        .collect())
}

pub async fn delete(
    platform: &Platform,
    caller: &Caller,
    id: &InterceptorId,
) -> Result<(), CoreError> {
    caller.require(Permission::Gateway)?;
    let org = caller.org();
    let found = list(platform, caller).await?;
    let interceptor = found
        .into_iter()
        .find(|interceptor| interceptor.id == *id)
        .ok_or(CoreError::NotFound)?;
    platform.store.delete_interceptor(org, id).await?;
    audit_change(
        platform,
        caller,
        AuditAction::InterceptorDeleted,
        &interceptor,
    )
    .await?;
    super::policies::announce_organization(platform, org).await
}

async fn audit_change(
    platform: &Platform,
    caller: &Caller,
    action: AuditAction,
    interceptor: &Interceptor,
) -> Result<(), CoreError> {
    let object = Object {
        kind: "interceptor",
        id: interceptor.id.as_str(),
        name: &interceptor.name,
    };
    let detail = serde_json::json!({
        "url": interceptor.url,
        "phases": interceptor.phases,
        "on_failure": interceptor.on_failure,
        "mode": interceptor.mode,
    });
    audit::record(platform, caller, action, object, detail).await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SECRET: &str = "operator-secret-0123456789abcdef0123";

    fn parsed(entries: serde_json::Value) -> Result<Vec<OperatorInterceptor>, String> {
        operator_interceptors(&entries.to_string(), false).map_err(|invalid| invalid.message)
    }

    #[test]
    fn the_operators_file_is_checked_as_an_organizations_interceptors_are() {
        let one = json!({"name": "judge", "url": "https://judge.example.com/hook",
                         "phases": ["request", "result"], "secret": SECRET});
        let found = parsed(json!([one.clone()])).unwrap();
        assert_eq!(found[0].interceptor.id.as_str(), "icp_operator_0");
        assert_eq!(found[0].interceptor.timeout_ms, INTERCEPT_TIMEOUT_MS.2);
        assert!(
            !format!("{found:?}").contains(SECRET),
            "the secret is not printed"
        );
        let with = |field: &str, value: serde_json::Value| {
            let mut entry = one.clone();
            entry[field] = value;
            parsed(json!([entry])).unwrap_err()
        };
        assert!(with("secret", json!("short")).contains("entry 0, secret"));
        assert!(with("url", json!("http://10.0.0.1/hook")).contains("entry 0, url"));
        assert!(with("phases", json!([])).contains("entry 0, phases"));
        assert!(with("colour", json!("red")).contains("unknown field"));
        let twice = parsed(json!([one.clone(), one.clone()])).unwrap_err();
        assert!(twice.contains("entry 1, name"), "{twice}");
        let many = json!(
            (0..=Limits::INTERCEPTORS)
                .map(|n| {
                    let mut entry = one.clone();
                    entry["name"] = json!(format!("judge-{n}"));
                    entry
                })
                .collect::<Vec<_>>()
        );
        assert!(parsed(many).unwrap_err().contains("at most"));
        assert!(
            parsed(json!({"name": "x"}))
                .unwrap_err()
                .contains("JSON array")
        );
    }
}
