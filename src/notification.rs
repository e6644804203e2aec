//! Notifications (SPEC §9): per slug, where its delivery stands for the people watching.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The lifecycle of a slug's notification: created by `review.approved` or
/// `deployment.started`, updated by `deployment.failed` (back to unseen), resolved by
/// `deployment.completed`.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NotificationState {
    #[default]
    Approved,
    InProgress,
    Failed,
    Resolved,
}

impl NotificationState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            NotificationState::Approved => "approved",
            NotificationState::InProgress => "in_progress",
            NotificationState::Failed => "failed",
            NotificationState::Resolved => "resolved",
        }
    }
}

impl fmt::Display for NotificationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One slug's notification.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Notification {
    pub slug: String,
    pub state: NotificationState,
    pub seen: bool,
    pub updated_at: String,
}
