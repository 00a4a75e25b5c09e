//! The mail that tells an organization's members a call waits for their approval: sent
//! once per approval asked (a retried call finds the one already waiting and sends
//! nothing), to the members who may decide it (owners and editors, owners first, at most
//! [`MAILED_MAX`]), in the background so that the call's answer does not wait for the
//! mail server. The mail names the call and links to the dashboard's queue; the
//! arguments stay there, behind sign-in.

use std::cmp::Reverse;

use guidepost_domain::{CallApproval, McpServer, Member};

use crate::Platform;

/// How many members one waiting approval is mailed to.
pub(crate) const MAILED_MAX: usize = 20;

/// Where the dashboard lists the calls waiting for a member.
pub(crate) const QUEUE_PATH: &str = "/app/gateway/approvals";

/// Mails the members who may decide `approval`, if the platform has mail.
pub(crate) fn tell_members(platform: &Platform, server: &McpServer, approval: &CallApproval) {
    let Some(mail) = platform.mail.clone() else {
        return;
    };
    let platform = platform.clone();
    let server_name = server.name.clone();
    let approval = approval.clone();
    tokio::spawn(async move {
        let members = match platform.store.list_members(&approval.binding.org_id).await {
            Ok(members) => members,
            Err(error) => {
                tracing::warn!(%error, approval = %approval.id, "could not list whom to mail an approval");
                return;
            }
        };
        let origin = crate::upstreams::connections::platform_origin(&platform.config);
        let (subject, body) = message(&approval, &server_name, &format!("{origin}{QUEUE_PATH}"));
        let mut sent = 0;
        for member in approvers(members) {
            match mail.send(&member.email, &subject, &body).await {
                Ok(()) => sent += 1,
                Err(error) => tracing::warn!(%error, "an approval's mail to a member failed"),
            }
        }
        tracing::info!(approval = %approval.id, sent, "members mailed about a call waiting for approval");
    });
}

/// The members who may decide an approval, owners first then editors, each in the order
/// they joined, at most [`MAILED_MAX`].
fn approvers(mut members: Vec<Member>) -> impl Iterator<Item = Member> {
    members.retain(|member| member.role.can_edit());
    members.sort_by_key(|member| (Reverse(member.role), member.created_at));
    members.into_iter().take(MAILED_MAX)
}

fn message(approval: &CallApproval, server_name: &str, queue: &str) -> (String, String) {
    let subject = format!("Approve a call of {} on {server_name}?", approval.tool);
    let why = match &approval.reason {
        Some(reason) => format!("policy `{}`: {reason}", approval.policy),
        None => format!("policy `{}`", approval.policy),
    };
    let body = format!(
        "{caller} called {tool} on {server_name}, and the call waits for the approval of a \
         member of your organization ({why}).\n\n\
         See its arguments and approve or reject it: {queue}\n\n\
         Approval {id} expires at {expires}. The call runs only if it is made again with \
         exactly the same arguments after it is approved.\n",
        caller = approval.caller_name,
        tool = approval.tool,
        id = approval.id,
        expires = approval.expires_at.to_rfc3339(),
    );
    (subject, body)
}

#[cfg(test)]
mod tests {
    use guidepost_domain::{Email, Id, Role, Timestamp};

    use super::*;

    fn member(email: &str, role: Role, joined: i64) -> Member {
        Member {
            id: Id::from_trusted(format!("mem_{email}")),
            org_id: Id::from_trusted("org_1".into()),
            email: Email::parse(email).unwrap(),
            role,
            created_at: Timestamp::from_micros(joined),
            last_sign_in_at: None,
        }
    }

    #[test]
    fn owners_then_editors_are_mailed_and_viewers_never() {
        let mut members = vec![
            member("v@example.com", Role::Viewer, 1),
            member("e2@example.com", Role::Editor, 3),
            member("e1@example.com", Role::Editor, 2),
            member("o@example.com", Role::Owner, 4),
        ];
        for n in 0..30 {
            members.push(member(
                &format!("late{n}@example.com"),
                Role::Editor,
                100 + n,
            ));
        }
        let mailed: Vec<String> = approvers(members)
            .map(|member| member.email.as_str().to_owned())
            .collect();
        assert_eq!(mailed.len(), MAILED_MAX);
        assert_eq!(
            &mailed[..3],
            ["o@example.com", "e1@example.com", "e2@example.com"]
        );
        assert!(!mailed.contains(&"v@example.com".to_owned()));
    }
}
