//! The schema policies are written against: who calls (`Person`, `EndUser`,
//! `Anonymous`), what is called (`Tool`, in its `Server`) and the call (`context`).

use std::sync::LazyLock;

use cedar_policy::{EntityId, EntityTypeName, EntityUid, Schema};

/// The schema, in Cedar's schema syntax, as `GET /api/v1/policies/schema` publishes it.
///
/// The arguments are tags of an `Arguments` entity rather than a record, because their
/// names are the tool's and not known to the schema: a top-level argument that is a
/// string is its tag's value, any other argument its JSON text. `arguments_json` is the
/// whole object as JSON, for a match anywhere in it.
pub const SCHEMA: &str = r#"namespace Guidepost {
  // What the tool's definition says of itself (MCP annotations; absent hints take the
  // specification's defaults: not read-only, destructive, not idempotent, open world).
  type ToolHints = {
    read_only: Bool,
    destructive: Bool,
    idempotent: Bool,
    open_world: Bool,
  };

  // A person signed in through the platform's authorization server (verified email).
  entity Person = {
    email: String,
    email_domain: String,
    // How they signed in: "platform" (a code mailed by the platform) or the issuer URL
    // of the organization's identity provider.
    identity_provider: String,
    // The `groups` claim of that provider's ID token at sign-in; empty when it had none.
    groups: Set<String>,
    // Their role in the organization ("owner", "editor" or "viewer") when their email is
    // a member's; absent otherwise.
    role?: String,
  };
  // An end user known only by the tracking id of their personal URL.
  entity EndUser;
  // A caller the request does not identify.
  entity Anonymous;

  entity Server = {
    slug: String,
  };

  entity Tool in [Server] = {
    // The name the agent calls: `{prefix}__{tool}` for an upstream's tool.
    name: String,
    // The tool's own name: the upstream's name for it, or Guidepost's.
    tool: String,
    // The prefix of the upstream server it belongs to; absent for Guidepost's own tools.
    upstream?: String,
    hints: ToolHints,
  };

  entity Arguments tags String;

  action call_tool appliesTo {
    principal: [Person, EndUser, Anonymous],
    resource: Tool,
    context: {
      arguments: Arguments,
      arguments_json: String,
      // The client's name from its `clientInfo`; empty when it gave none.
      client: String,
      time: datetime,
    },
  };
}
"#;

/// The schema, parsed once: the text above is part of the program, so a failure to
/// parse it is a bug that every test of this crate shows.
pub(crate) static PARSED: LazyLock<Schema> = LazyLock::new(|| {
    let (schema, _warnings) = Schema::from_cedarschema_str(SCHEMA).expect("the schema parses");
    schema
});

/// The entity types and the action, named once.
pub(crate) struct Names {
    pub person: EntityTypeName,
    pub end_user: EntityTypeName,
    pub anonymous: EntityTypeName,
    pub server: EntityTypeName,
    pub tool: EntityTypeName,
    /// The one `Arguments` entity of a request, the call's.
    pub arguments_call: EntityUid,
    pub call_tool: EntityUid,
}

pub(crate) static NAMES: LazyLock<Names> = LazyLock::new(|| {
    let name = |text: &str| text.parse::<EntityTypeName>().expect("a schema type name");
    Names {
        person: name("Guidepost::Person"),
        end_user: name("Guidepost::EndUser"),
        anonymous: name("Guidepost::Anonymous"),
        server: name("Guidepost::Server"),
        tool: name("Guidepost::Tool"),
        arguments_call: EntityUid::from_type_name_and_id(
            name("Guidepost::Arguments"),
            EntityId::new("call"),
        ),
        call_tool: r#"Guidepost::Action::"call_tool""#
            .parse()
            .expect("the schema's action"),
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_parses_and_names_what_the_code_builds() {
        let schema = &*PARSED;
        let types: Vec<String> = schema.entity_types().map(|t| t.to_string()).collect();
        for name in [
            &NAMES.person,
            &NAMES.end_user,
            &NAMES.anonymous,
            &NAMES.server,
            &NAMES.tool,
            NAMES.arguments_call.type_name(),
        ] {
            assert!(types.contains(&name.to_string()), "{name} in {types:?}");
        }
        assert_eq!(schema.actions().count(), 1);
    }
}
