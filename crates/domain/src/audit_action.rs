//! What an audit event records was done: one closed set, so that every writer names an
//! action that exists and the audit log's text (`core::audit`) has words for each. The
//! text form (`member.added`, `{type}.{what}`) is what the store keeps and the API shows.

string_enum! {
    /// An action of the audit log, in the form `{type}.{what}`.
    AuditAction {
        ApiKeyCreated => "api_key.created",
        ApiKeyRevoked => "api_key.revoked",
        ApprovalApproved => "approval.approved",
        ApprovalDenied => "approval.denied",
        CatalogEntryAdded => "catalog_entry.added",
        ConnectionConnected => "connection.connected",
        ConnectionDisconnected => "connection.disconnected",
        ConnectionNeedsReconnect => "connection.needs_reconnect",
        EndUserErased => "end_user.erased",
        EndUserExported => "end_user.exported",
        InterceptorAudited => "interceptor.audited",
        InterceptorCreated => "interceptor.created",
        InterceptorDeleted => "interceptor.deleted",
        InterceptorFailed => "interceptor.failed",
        MemberAdded => "member.added",
        MemberInvited => "member.invited",
        MemberRemoved => "member.removed",
        MemberRoleChanged => "member.role_changed",
        OrganizationRawToolResults => "organization.raw_tool_results",
        OrganizationRegistryListed => "organization.registry_listed",
        OrganizationToolApproval => "organization.tool_approval",
        PolicyPublished => "policy.published",
        ProgressReset => "progress.reset",
        QuotaUpdated => "quota.updated",
        ServerCreated => "server.created",
        ServerDeleted => "server.deleted",
        ServerDomainVerified => "server.domain_verified",
        ServerIdentityProviderRemoved => "server.identity_provider_removed",
        ServerIdentityProviderSet => "server.identity_provider_set",
        ServerToolDisabled => "server.tool_disabled",
        ServerToolEnabled => "server.tool_enabled",
        ServerUpdated => "server.updated",
        SupportRequestNoted => "support_request.noted",
        SupportRequestReplied => "support_request.replied",
        SupportRequestStatusChanged => "support_request.status_changed",
        ToolApproved => "tool.approved",
        ToolChanged => "tool.changed",
        ToolDiscovered => "tool.discovered",
        ToolQuarantined => "tool.quarantined",
        ToolRejected => "tool.rejected",
        UpstreamAttached => "upstream.attached",
        UpstreamResultGuarded => "upstream.result_guarded",
        UpstreamResultGuardSet => "upstream.result_guard_set",
        UpstreamDetached => "upstream.detached",
        UpstreamEventsSummarized => "upstream.events_summarized",
        UpstreamInstalled => "upstream.installed",
        UpstreamReplicasChanged => "upstream.replicas_changed",
        UpstreamRestarted => "upstream.restarted",
        UpstreamResultHiddenCharacters => "upstream.result_hidden_characters",
        UpstreamRolledBack => "upstream.rolled_back",
        UpstreamSignInChanged => "upstream.sign_in_changed",
        UpstreamSwitched => "upstream.switched",
        UpstreamUninstalled => "upstream.uninstalled",
        UpstreamUpgradeUndone => "upstream.upgrade_undone",
        UpstreamUpgraded => "upstream.upgraded",
        WalkthroughAssigned => "walkthrough.assigned",
        WalkthroughCreated => "walkthrough.created",
        WalkthroughDeleted => "walkthrough.deleted",
        WalkthroughImported => "walkthrough.imported",
        WalkthroughPublished => "walkthrough.published",
        WalkthroughRepublished => "walkthrough.republished",
        WalkthroughStepAdded => "walkthrough.step_added",
        WalkthroughStepChanged => "walkthrough.step_changed",
        WalkthroughStepDeleted => "walkthrough.step_deleted",
        WalkthroughStepMoved => "walkthrough.step_moved",
        WalkthroughUnassigned => "walkthrough.unassigned",
        WalkthroughUpdated => "walkthrough.updated",
        WebhookCreated => "webhook.created",
        WebhookDeleted => "webhook.deleted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_reads_back_from_its_text_and_serde_agrees() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(*action));
            let json = serde_json::to_string(action).unwrap();
            assert_eq!(json, format!("\"{}\"", action.as_str()));
            assert!(action.as_str().contains('.'), "{action} is not type.what");
        }
        assert_eq!(AuditAction::parse("member.promoted"), None);
    }

    /// The OpenAPI schema names the same texts as serde (a `string_enum!` whose texts
    /// reached the schema derive unread once documented the variants' Rust names).
    #[test]
    fn the_schema_lists_the_texts() {
        let schema = <AuditAction as utoipa::PartialSchema>::schema();
        let schema = serde_json::to_value(schema).unwrap();
        let texts: Vec<&str> = schema["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        let expected: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(texts, expected);
    }
}
