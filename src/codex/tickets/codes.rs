//! Ticket status and priority vocabulary, and the mappings from each PSA's own codes.
//!
//! Every ticket is stored with one normalised status and priority word so boards and
//! billing never need to know which PSA a ticket came from; the raw PSA values are
//! kept beside them (`status_id`, `priority_id`). Freshservice ids follow
//! `peer/codex.md` §3.1.7; SuperOps statuses are tenant-defined names, matched on
//! their common spellings.

/// Every normalised status. The first nine are the everyday set; the rest exist because
/// Freshservice tenants use them and the sync stores them as they are.
pub const STATUSES: &[&str] = &[
    "open",
    "pending",
    "resolved",
    "closed",
    "waiting_customer",
    "waiting_third_party",
    "on_hold",
    "customer_replied",
    "update_needed",
    "scheduled",
    "under_investigation",
    "job_complete_bill",
    "billing_complete",
    "pending_hubspot",
    "spam",
    "deleted",
    "unknown",
];

/// Statuses that take a ticket off the boards (Beacon's closed set, §6).
pub const CLOSED_STATUSES: &[&str] = &[
    "closed",
    "resolved",
    "job_complete_bill",
    "billing_complete",
    "spam",
    "trash",
    "deleted",
];

pub const PRIORITIES: &[&str] = &["low", "medium", "high", "urgent", "unknown"];

/// Freshservice status id → normalised status (unknown ids → `unknown`).
pub fn status_from_freshservice(id: i64) -> &'static str {
    match id {
        2 => "open",
        3 => "pending",
        4 => "resolved",
        5 => "closed",
        6 => "spam",
        7 => "deleted",
        8 => "scheduled",
        9 => "waiting_customer",
        10 => "waiting_third_party",
        13 => "under_investigation",
        15 => "job_complete_bill",
        16 => "billing_complete",
        19 => "update_needed",
        23 => "on_hold",
        26 => "customer_replied",
        27 => "pending_hubspot",
        _ => "unknown",
    }
}

/// Normalised status → Freshservice id, for the statuses the original could write back.
pub fn status_to_freshservice(status: &str) -> Option<i64> {
    match status {
        "open" => Some(2),
        "pending" => Some(3),
        "resolved" => Some(4),
        "closed" => Some(5),
        "waiting_customer" => Some(9),
        "on_hold" => Some(23),
        _ => None,
    }
}

/// Freshservice priority 1..4 → low, medium, high, urgent (else `unknown`).
pub fn priority_from_freshservice(id: i64) -> &'static str {
    match id {
        1 => "low",
        2 => "medium",
        3 => "high",
        4 => "urgent",
        _ => "unknown",
    }
}

/// The numeric priority we store for a normalised priority (the Freshservice scale,
/// so sorting by `priority_id` means the same for every source).
pub fn priority_rank(priority: &str) -> Option<i64> {
    match priority {
        "low" => Some(1),
        "medium" => Some(2),
        "high" => Some(3),
        "urgent" => Some(4),
        _ => None,
    }
}

/// SuperOps status name (tenant-defined text) → normalised status.
pub fn status_from_superops(name: &str) -> &'static str {
    let key = snake(name);
    let alias = match key.as_str() {
        "new" | "in_progress" | "reopened" | "assigned" => "open",
        "waiting_on_customer" | "awaiting_customer" | "waiting_for_customer" => "waiting_customer",
        "waiting_on_third_party" | "waiting_on_vendor" | "awaiting_third_party" => {
            "waiting_third_party"
        }
        "customer_responded" => "customer_replied",
        "hold" | "onhold" => "on_hold",
        _ => key.as_str(),
    };
    STATUSES
        .iter()
        .find(|s| **s == alias)
        .copied()
        .unwrap_or("unknown")
}

/// SuperOps priority name → normalised priority.
pub fn priority_from_superops(name: &str) -> &'static str {
    match snake(name).as_str() {
        "low" | "very_low" | "planning" => "low",
        "medium" | "normal" => "medium",
        "high" => "high",
        "urgent" | "critical" | "very_high" => "urgent",
        _ => "unknown",
    }
}

/// Display text for a normalised status: the PSA's label where we know it, else the
/// word with underscores as spaces, title-cased.
pub fn status_display(status: &str) -> String {
    let known = match status {
        "waiting_customer" => Some("Waiting on Customer"),
        "waiting_third_party" => Some("Waiting on Third Party"),
        "job_complete_bill" => Some("Job Complete - Bill"),
        "billing_complete" => Some("Billing Complete - Close"),
        _ => None,
    };
    known.map(str::to_string).unwrap_or_else(|| title(status))
}

pub fn priority_display(priority: &str) -> String {
    title(priority)
}

fn title(word: &str) -> String {
    word.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// "Waiting on Customer" → "waiting_on_customer".
fn snake(name: &str) -> String {
    name.trim()
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

pub fn is_closed(status: &str) -> bool {
    CLOSED_STATUSES.contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshservice_statuses_follow_the_spec_table() {
        let table = [
            (2, "open"),
            (3, "pending"),
            (4, "resolved"),
            (5, "closed"),
            (6, "spam"),
            (7, "deleted"),
            (8, "scheduled"),
            (9, "waiting_customer"),
            (10, "waiting_third_party"),
            (13, "under_investigation"),
            (15, "job_complete_bill"),
            (16, "billing_complete"),
            (19, "update_needed"),
            (23, "on_hold"),
            (26, "customer_replied"),
            (27, "pending_hubspot"),
            (1, "unknown"),
            (99, "unknown"),
        ];
        for (id, want) in table {
            assert_eq!(status_from_freshservice(id), want, "id {id}");
            assert!(STATUSES.contains(&want));
        }
        assert_eq!(status_to_freshservice("on_hold"), Some(23));
        assert_eq!(status_to_freshservice("scheduled"), None);
    }

    #[test]
    fn freshservice_priorities() {
        assert_eq!(priority_from_freshservice(1), "low");
        assert_eq!(priority_from_freshservice(2), "medium");
        assert_eq!(priority_from_freshservice(3), "high");
        assert_eq!(priority_from_freshservice(4), "urgent");
        assert_eq!(priority_from_freshservice(0), "unknown");
        assert_eq!(priority_from_freshservice(5), "unknown");
        assert_eq!(priority_rank("urgent"), Some(4));
        assert_eq!(priority_rank("unknown"), None);
    }

    #[test]
    fn superops_names_map_by_meaning() {
        assert_eq!(status_from_superops("Open"), "open");
        assert_eq!(status_from_superops("In Progress"), "open");
        assert_eq!(
            status_from_superops("Waiting on Customer"),
            "waiting_customer"
        );
        assert_eq!(status_from_superops("On Hold"), "on_hold");
        assert_eq!(status_from_superops(" RESOLVED "), "resolved");
        assert_eq!(
            status_from_superops("Customer Responded"),
            "customer_replied"
        );
        assert_eq!(status_from_superops("Something Custom"), "unknown");
        assert_eq!(priority_from_superops("Critical"), "urgent");
        assert_eq!(priority_from_superops("Normal"), "medium");
        assert_eq!(priority_from_superops("High"), "high");
        assert_eq!(priority_from_superops("??"), "unknown");
    }

    #[test]
    fn display_texts() {
        assert_eq!(status_display("waiting_customer"), "Waiting on Customer");
        assert_eq!(status_display("update_needed"), "Update Needed");
        assert_eq!(status_display("open"), "Open");
        assert_eq!(priority_display("urgent"), "Urgent");
        assert!(is_closed("billing_complete") && !is_closed("on_hold"));
    }
}
