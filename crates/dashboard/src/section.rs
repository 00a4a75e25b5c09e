//! The parts of the dashboard: the entries of its navigation, in order, each marked
//! current on its pages (error pages show the navigation too).

/// A part of the dashboard: an entry of the navigation, marked current on its pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Overview,
    Servers,
    Walkthroughs,
    Analytics,
    ToolCalls,
    EndUsers,
    Support,
    Gateway,
    Members,
}

impl Section {
    /// The navigation, in order.
    pub const ALL: [Section; 9] = [
        Section::Overview,
        Section::Servers,
        Section::Walkthroughs,
        Section::Analytics,
        Section::ToolCalls,
        Section::EndUsers,
        Section::Support,
        Section::Gateway,
        Section::Members,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Section::Overview => "Overview",
            Section::Servers => "Servers",
            Section::Walkthroughs => "Walkthroughs",
            Section::Analytics => "Analytics",
            Section::ToolCalls => "Tool calls",
            Section::EndUsers => "End users",
            Section::Support => "Support",
            Section::Gateway => "Gateway",
            Section::Members => "Members",
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Section::Overview => "/app/",
            Section::Servers => "/app/servers",
            Section::Walkthroughs => "/app/walkthroughs",
            Section::Analytics => "/app/analytics",
            Section::ToolCalls => "/app/tool-calls",
            Section::EndUsers => "/app/end-users",
            Section::Support => "/app/support",
            Section::Gateway => "/app/gateway",
            Section::Members => "/app/members",
        }
    }
}
