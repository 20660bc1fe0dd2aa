//! Pins every rule, text and threshold of the board against a fixed clock.

use super::model::*;
use super::rules::*;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap()
}
fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}
fn mins(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}
fn hours(n: i64) -> TimeDelta {
    TimeDelta::hours(n)
}
fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}
fn ago(d: TimeDelta) -> Option<DateTime<Utc>> {
    Some(now() - d)
}
fn ahead(d: TimeDelta) -> Option<DateTime<Utc>> {
    Some(now() + d)
}

/// A Freshservice ticket updated an hour ago, status and priority as given.
fn fs(id: &str, status: &str, priority: &str) -> BoardTicket {
    let priority_id = match priority {
        "low" => Some(1),
        "medium" => Some(2),
        "high" => Some(3),
        "urgent" => Some(4),
        _ => None,
    };
    BoardTicket {
        external_id: id.to_string(),
        source: "freshservice".to_string(),
        ticket_number: Some(id.to_string()),
        subject: Some(format!("Ticket {id}")),
        status: Some(status.to_string()),
        priority: Some(priority.to_string()),
        priority_id,
        ticket_type: Some("Incident".to_string()),
        created_at: ago(hours(1)),
        last_updated_at: ago(hours(1)),
        ..Default::default()
    }
}

fn with_update(mut t: BoardTicket, since: TimeDelta) -> BoardTicket {
    t.last_updated_at = ago(since);
    t
}

/// A ticket that already had its first response (so S1 tests isolate one rule).
fn responded(mut t: BoardTicket) -> BoardTicket {
    t.first_responded_at = ago(mins(50));
    t
}

fn cat(t: &BoardTicket) -> (SectionId, String, SlaClass) {
    let v = categorise(t, now(), &BoardSettings::default());
    (v.section, v.sla_text, v.sla_class)
}

fn expect(t: &BoardTicket, section: SectionId, text: &str, class: SlaClass) {
    assert_eq!(cat(t), (section, text.to_string(), class), "ticket {t:?}");
}

fn board(tickets: &[BoardTicket], settings: &BoardSettings) -> Board {
    build_board(tickets, now(), settings, BoardView::All, &AgentFilter::All)
}

fn ids(board: &Board, section: SectionId) -> Vec<String> {
    board
        .section(section)
        .tickets
        .iter()
        .map(|i| i.id.clone())
        .collect()
}

fn ps_settings() -> BoardSettings {
    BoardSettings {
        professional_services_group_id: Some("19000234009".to_string()),
        ..BoardSettings::default()
    }
}

// ---- settings -------------------------------------------------------------------------

#[test]
fn defaults_are_the_originals() {
    let s = BoardSettings::default();
    assert_eq!(s.update_overdue.urgent, mins(30));
    assert_eq!(s.update_overdue.high, days(2));
    assert_eq!(s.update_overdue.medium, days(3));
    assert_eq!(s.update_overdue.low, days(4));
    assert_eq!(s.update_overdue.unknown, days(3));
    assert_eq!(s.fr_critical, hours(4));
    assert_eq!(s.fr_warning, hours(12));
    assert_eq!(s.professional_services_group_id, None);
    assert_eq!(s.alert_levels, [90, 100, 110, 120]);
}

// ---- rule 1: customer replied ---------------------------------------------------------

#[test]
fn rule1_customer_replied_goes_to_s2_even_when_overdue() {
    let t = with_update(fs("1", "customer_replied", "urgent"), hours(2));
    expect(
        &t,
        SectionId::CustomerReplied,
        "Customer Replied (2h ago)",
        SlaClass::Warning,
    );
}

// ---- rule 2: pending hubspot ----------------------------------------------------------

#[test]
fn rule2_pending_hubspot_goes_to_s4_even_when_overdue() {
    let t = with_update(fs("1", "pending_hubspot", "urgent"), days(5));
    expect(
        &t,
        SectionId::Other,
        "Pending Hubspot (5d ago)",
        SlaClass::None,
    );
}

// ---- rule 3: update overdue, at every threshold ---------------------------------------

#[test]
fn rule3_thresholds_are_strictly_greater_than() {
    for (priority, limit) in [
        ("urgent", mins(30)),
        ("high", days(2)),
        ("medium", days(3)),
        ("low", days(4)),
        ("unknown", days(3)),
        ("p9-not-in-vocabulary", days(3)),
    ] {
        let at_limit = responded(with_update(fs("1", "open", priority), limit));
        assert_eq!(cat(&at_limit).0, SectionId::Open, "{priority} at limit");
        let past = responded(with_update(fs("1", "open", priority), limit + secs(1)));
        assert_eq!(cat(&past).0, SectionId::Overdue, "{priority} past limit");
        assert_eq!(cat(&past).2, SlaClass::Critical);
    }
}

#[test]
fn rule3_text_names_the_status_and_the_age() {
    let t = with_update(fs("1", "open", "urgent"), mins(30) + secs(1));
    expect(
        &t,
        SectionId::Overdue,
        "Update Overdue (Open, 30m ago)",
        SlaClass::Critical,
    );
    let t = with_update(fs("1", "waiting_customer", "low"), days(4) + secs(1));
    expect(
        &t,
        SectionId::Overdue,
        "Update Overdue (Waiting on Customer, 4d ago)",
        SlaClass::Critical,
    );
    let t = with_update(fs("1", "on_hold", "high"), days(9));
    expect(
        &t,
        SectionId::Overdue,
        "Update Overdue (On Hold, 9d ago)",
        SlaClass::Critical,
    );
}

#[test]
fn rule3_needs_a_priority_and_an_update_time() {
    let mut t = with_update(fs("1", "scheduled", "low"), days(100));
    t.priority = None;
    expect(
        &t,
        SectionId::Other,
        "Scheduled (100d ago)",
        SlaClass::InProgress,
    );
    let mut t = fs("2", "scheduled", "urgent");
    t.last_updated_at = None;
    expect(
        &t,
        SectionId::Other,
        "Scheduled (N/A)",
        SlaClass::InProgress,
    );
}

#[test]
fn rule3_thresholds_come_from_the_settings() {
    let mut s = BoardSettings::default();
    s.update_overdue.urgent = hours(1);
    let t = responded(with_update(fs("1", "open", "urgent"), mins(45)));
    assert_eq!(categorise(&t, now(), &s).section, SectionId::Open);
    let t = responded(with_update(fs("1", "open", "urgent"), hours(1) + secs(1)));
    assert_eq!(categorise(&t, now(), &s).section, SectionId::Overdue);
}

// ---- rule 4: first-response SLA -------------------------------------------------------

fn fr_in(remaining: TimeDelta) -> BoardTicket {
    let mut t = fs("1", "open", "low");
    t.fr_due_by = ahead(remaining);
    t
}

#[test]
fn rule4_fr_classes_at_each_edge() {
    let cases = [
        (hours(12) + secs(1), "12.0 hours for FR", SlaClass::Normal),
        (hours(12), "12.0 hours for FR", SlaClass::Normal),
        (hours(12) - secs(1), "12.0 hours for FR", SlaClass::Warning),
        (hours(5), "5.0 hours for FR", SlaClass::Warning),
        (hours(4), "4.0 hours for FR", SlaClass::Warning),
        (hours(4) - secs(1), "4.0 hours for FR", SlaClass::Critical),
        (mins(30), "30 min for FR", SlaClass::Critical),
        (secs(0), "0 sec for FR", SlaClass::Critical),
        (secs(-1), "FR Overdue by 1 sec", SlaClass::Overdue),
        (-hours(3), "FR Overdue by 3.0 hours", SlaClass::Overdue),
        (
            -(days(2) + hours(12)),
            "FR Overdue by 2.5 days",
            SlaClass::Overdue,
        ),
    ];
    for (remaining, text, class) in cases {
        expect(&fr_in(remaining), SectionId::Open, text, class);
    }
}

#[test]
fn rule4_fr_thresholds_come_from_the_settings() {
    let s = BoardSettings {
        fr_critical: hours(1),
        fr_warning: hours(2),
        ..BoardSettings::default()
    };
    let class = |d| categorise(&fr_in(d), now(), &s).sla_class;
    assert_eq!(class(mins(59)), SlaClass::Critical);
    assert_eq!(class(mins(90)), SlaClass::Warning);
    assert_eq!(class(hours(3)), SlaClass::Normal);
}

#[test]
fn rule4_service_requests_use_due_by_and_the_due_prefix() {
    let mut t = fs("1", "pending", "medium");
    t.ticket_type = Some("Service Request".to_string());
    t.fr_due_by = ahead(hours(100));
    t.due_by = ago(days(2) + hours(12));
    expect(
        &t,
        SectionId::Open,
        "Due Overdue by 2.5 days",
        SlaClass::Overdue,
    );
    t.due_by = ahead(hours(6));
    expect(&t, SectionId::Open, "6.0 hours for Due", SlaClass::Warning);
    t.due_by = None;
    expect(&t, SectionId::Open, "No Due Due Date", SlaClass::None);
}

#[test]
fn rule4_incidents_ignore_due_by() {
    let mut t = fs("1", "update_needed", "medium");
    t.due_by = ahead(hours(1));
    expect(&t, SectionId::Open, "No FR Due Date", SlaClass::None);
    t.ticket_type = None;
    t.fr_due_by = ahead(days(3));
    expect(&t, SectionId::Open, "3.0 days for FR", SlaClass::Normal);
}

#[test]
fn amounts_switch_units_at_two_days_one_hour_one_minute() {
    let cases = [
        (days(2), "2.0 days"),
        (days(2) - secs(1), "48.0 hours"),
        (hours(47) + mins(54), "47.9 hours"),
        (hours(1), "1.0 hours"),
        (hours(1) - secs(1), "60 min"),
        (mins(1), "1 min"),
        (secs(59), "59 sec"),
        (secs(90), "2 min"),  // 1.5 rounds half to even
        (secs(150), "2 min"), // 2.5 rounds half to even
        (TimeDelta::milliseconds(400), "0 sec"),
        (-hours(3), "3.0 hours"),
        (-secs(1), "1 sec"),
    ];
    for (span, text) in cases {
        assert_eq!(format_amount(span), text, "{span:?}");
    }
}

// ---- rule 5: first response met -------------------------------------------------------

#[test]
fn rule5_responded_tickets_show_fr_met_with_the_status_name() {
    for (status, name) in [
        ("open", "Open"),
        ("pending", "Pending"),
        ("update_needed", "Update Needed"),
    ] {
        let mut t = responded(fs("1", status, "medium"));
        t.fr_due_by = ago(days(1)); // an FR deadline no longer matters once met
        expect(
            &t,
            SectionId::Open,
            &format!("{name} (FR Met)"),
            SlaClass::Responded,
        );
    }
}

// ---- rules 6–8: section 4 -------------------------------------------------------------

#[test]
fn rule6_waiting_on_customer_shows_the_agents_last_reply() {
    let mut t = fs("1", "waiting_customer", "medium");
    expect(
        &t,
        SectionId::Other,
        "Waiting on Customer",
        SlaClass::Responded,
    );
    t.agent_responded_at = ago(hours(3));
    expect(
        &t,
        SectionId::Other,
        "Waiting on Customer (Agent: 3h ago)",
        SlaClass::Responded,
    );
}

#[test]
fn rule7_on_hold() {
    let t = with_update(fs("1", "on_hold", "medium"), days(1));
    expect(&t, SectionId::Other, "On Hold (1d ago)", SlaClass::None);
}

#[test]
fn rule8_everything_else_shows_its_status_name() {
    for (status, text) in [
        ("scheduled", "Scheduled (1h ago)"),
        ("waiting_third_party", "Waiting on Third Party (1h ago)"),
        ("under_investigation", "Under Investigation (1h ago)"),
        ("unknown", "Unknown (1h ago)"),
        ("escalated_to_vendor", "Escalated To Vendor (1h ago)"),
    ] {
        expect(
            &fs("1", status, "medium"),
            SectionId::Other,
            text,
            SlaClass::InProgress,
        );
    }
}

#[test]
fn rules_apply_in_order() {
    // An unanswered open ticket past its update threshold is overdue (3) before S1 (4).
    let mut t = with_update(fs("1", "open", "urgent"), hours(1));
    t.fr_due_by = ahead(hours(20));
    assert_eq!(cat(&t).0, SectionId::Overdue);
    // The same ticket in time shows its FR SLA.
    let t = with_update(t, mins(5));
    expect(&t, SectionId::Open, "20.0 hours for FR", SlaClass::Normal);
}

// ---- friendly ages --------------------------------------------------------------------

#[test]
fn time_since_texts() {
    let cases = [
        (None, "N/A"),
        (ahead(secs(1)), "in the future"),
        (ago(secs(0)), "Just now"),
        (ago(secs(59)), "Just now"),
        (ago(secs(60)), "1m ago"),
        (ago(secs(3599)), "59m ago"),
        (ago(hours(1)), "1h ago"),
        (ago(days(1) - secs(1)), "23h ago"),
        (ago(days(1)), "1d ago"),
        (ago(days(3) + hours(23)), "3d ago"),
    ];
    for (at, text) in cases {
        assert_eq!(time_since(at, now()), text, "{at:?}");
    }
}

#[test]
fn days_old_counts_calendar_days() {
    let at = |y, m, d, h, min| Some(Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap());
    let just_after_midnight = Utc.with_ymd_and_hms(2026, 3, 10, 0, 1, 0).unwrap();
    assert_eq!(days_old(None, now()), "N/A");
    assert_eq!(days_old(at(2026, 3, 10, 0, 0), now()), "Today");
    assert_eq!(days_old(at(2026, 3, 10, 23, 0), now()), "Today");
    assert_eq!(
        days_old(at(2026, 3, 9, 23, 59), just_after_midnight),
        "1 day old"
    );
    assert_eq!(days_old(at(2026, 3, 5, 12, 0), now()), "5 days old");
    assert_eq!(days_old(at(2026, 3, 11, 0, 0), now()), "Future Date");
}

// ---- active set -----------------------------------------------------------------------

#[test]
fn closed_statuses_are_not_on_the_board() {
    let mut tickets: Vec<_> = CLOSED_STATUSES.iter().map(|s| fs(s, s, "medium")).collect();
    tickets.push(fs("Closed-capital", " Closed ", "medium"));
    tickets.push(fs("live", "open", "medium"));
    let b = board(&tickets, &BoardSettings::default());
    assert_eq!(b.total_active, 1);
    assert_eq!(ids(&b, SectionId::Open), ["live"]);
}

// ---- sort order -----------------------------------------------------------------------

#[test]
fn sections_sort_by_priority_then_stalest_first() {
    let settings = BoardSettings::default();
    let mut unranked = with_update(fs("no-prio-id", "waiting_third_party", "odd"), hours(5));
    unranked.priority_id = None;
    let mut no_update = fs("no-update", "scheduled", "low");
    no_update.last_updated_at = None;
    let tickets = [
        with_update(fs("low-fresh", "scheduled", "low"), hours(1)),
        with_update(fs("urgent-fresh", "scheduled", "urgent"), mins(1)),
        with_update(fs("low-stale", "scheduled", "low"), hours(9)),
        with_update(fs("high", "scheduled", "high"), hours(2)),
        with_update(fs("urgent-stale", "scheduled", "urgent"), mins(20)),
        unranked,
        no_update,
    ];
    let b = board(&tickets, &settings);
    assert_eq!(
        ids(&b, SectionId::Other),
        [
            "urgent-stale",
            "urgent-fresh",
            "high",
            "no-update",
            "low-stale",
            "no-prio-id",
            "low-fresh"
        ]
    );
}

#[test]
fn priority_rank_prefers_the_name_then_the_id() {
    let mut t = fs("1", "open", "urgent");
    t.priority_id = None; // SuperOps: no numeric priority
    assert_eq!(priority_rank(&t), 4);
    t.priority = None;
    t.priority_id = Some(3);
    assert_eq!(priority_rank(&t), 3);
    t.priority_id = Some(0);
    assert_eq!(priority_rank(&t), 1);
    t.priority_id = None;
    assert_eq!(priority_rank(&t), 1);
}

#[test]
fn equal_keys_are_ordered_by_id_whatever_the_input_order() {
    let a = fs("a", "scheduled", "low");
    let b = fs("b", "scheduled", "low");
    let s = BoardSettings::default();
    let forward = board(&[a.clone(), b.clone()], &s);
    let backward = board(&[b, a], &s);
    assert_eq!(ids(&forward, SectionId::Other), ["a", "b"]);
    assert_eq!(forward, backward);
}

// ---- views and agent filter -----------------------------------------------------------

fn grouped(id: &str, group: Option<&str>, responder: Option<&str>) -> BoardTicket {
    let mut t = fs(id, "scheduled", "low");
    t.group_id = group.map(str::to_string);
    t.responder_id = responder.map(str::to_string);
    t
}

fn view_tickets() -> Vec<BoardTicket> {
    vec![
        grouped("ps", Some("19000234009"), Some("7")),
        grouped("other-group", Some("42"), Some("8")),
        grouped("no-group", None, None),
    ]
}

fn view_ids(settings: &BoardSettings, view: BoardView, agent: &AgentFilter) -> Vec<String> {
    let b = build_board(&view_tickets(), now(), settings, view, agent);
    ids(&b, SectionId::Other)
}

#[test]
fn views_split_on_the_professional_services_group() {
    let s = ps_settings();
    let all = AgentFilter::All;
    assert_eq!(view_ids(&s, BoardView::ProfessionalServices, &all), ["ps"]);
    assert_eq!(
        view_ids(&s, BoardView::Helpdesk, &all),
        ["no-group", "other-group"]
    );
    assert_eq!(view_ids(&s, BoardView::All, &all).len(), 3);
}

#[test]
fn unknown_ps_group_means_helpdesk_shows_all_and_ps_none() {
    let s = BoardSettings::default();
    let all = AgentFilter::All;
    assert_eq!(view_ids(&s, BoardView::Helpdesk, &all).len(), 3);
    assert!(view_ids(&s, BoardView::ProfessionalServices, &all).is_empty());
    let blank = BoardSettings {
        professional_services_group_id: Some(" ".to_string()),
        ..BoardSettings::default()
    };
    assert!(view_ids(&blank, BoardView::ProfessionalServices, &all).is_empty());
}

#[test]
fn agent_filter_keeps_one_agent_or_the_unassigned_in_every_section() {
    let s = ps_settings();
    let agent = AgentFilter::Agent("8".to_string());
    assert_eq!(view_ids(&s, BoardView::All, &agent), ["other-group"]);
    assert_eq!(
        view_ids(&s, BoardView::All, &AgentFilter::Unassigned),
        ["no-group"]
    );
    // Combined with the view: agent 7 works only Professional Services tickets.
    let seven = AgentFilter::Agent("7".to_string());
    assert!(view_ids(&s, BoardView::Helpdesk, &seven).is_empty());

    let mut replied = grouped("replied", None, Some("8"));
    replied.status = Some("customer_replied".to_string());
    let mut open = grouped("open", None, None);
    open.status = Some("open".to_string());
    let b = build_board(
        &[replied, open],
        now(),
        &s,
        BoardView::Helpdesk,
        &AgentFilter::Unassigned,
    );
    assert_eq!(b.total_active, 1);
    assert_eq!(ids(&b, SectionId::Open), ["open"]);
}

#[test]
fn agent_filter_parses_the_query_value() {
    assert_eq!(AgentFilter::parse(None), AgentFilter::All);
    assert_eq!(AgentFilter::parse(Some(" ")), AgentFilter::All);
    assert_eq!(
        AgentFilter::parse(Some("Unassigned")),
        AgentFilter::Unassigned
    );
    assert_eq!(
        AgentFilter::parse(Some(" 19000123 ")),
        AgentFilter::Agent("19000123".to_string())
    );
}

#[test]
fn views_parse_their_slugs_and_title_the_sections() {
    assert_eq!(
        BoardView::from_slug("professional-services"),
        Some(BoardView::ProfessionalServices)
    );
    assert_eq!(BoardView::from_slug("helpdesk"), Some(BoardView::Helpdesk));
    assert_eq!(BoardView::from_slug("nope"), None);
    let b = build_board(
        &[],
        now(),
        &ps_settings(),
        BoardView::Helpdesk,
        &AgentFilter::All,
    );
    let titles: Vec<_> = b.sections.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "Open Helpdesk Tickets",
            "Customer Replied",
            "Needs Agent / Update Overdue",
            "Other Active Helpdesk Tickets"
        ]
    );
    let ps = BoardView::ProfessionalServices;
    assert_eq!(
        ps.section_title(SectionId::Open),
        "Open Professional Services Tickets"
    );
    assert_eq!(
        ps.section_title(SectionId::Other),
        "Other Active Professional Services Tickets"
    );
    assert_eq!(
        BoardView::All.section_title(SectionId::Open),
        "Open Tickets"
    );
}

// ---- header counter -------------------------------------------------------------------

#[test]
fn alert_levels_at_each_threshold() {
    let levels = [90, 100, 110, 120];
    let cases = [
        (0, AlertLevel::Normal),
        (89, AlertLevel::Normal),
        (90, AlertLevel::Warning),
        (99, AlertLevel::Warning),
        (100, AlertLevel::Danger),
        (110, AlertLevel::Critical),
        (119, AlertLevel::Critical),
        (120, AlertLevel::Emergency),
        (5000, AlertLevel::Emergency),
    ];
    for (total, level) in cases {
        assert_eq!(AlertLevel::for_total(total, &levels), level, "{total}");
    }
    assert_eq!(AlertLevel::Normal.css_class(), None);
    assert_eq!(AlertLevel::Danger.css_class(), Some("count-danger"));
    assert!(AlertLevel::Emergency.sirens() && !AlertLevel::Critical.sirens());
}

#[test]
fn the_board_counts_its_own_tickets_for_the_alert_level() {
    let tickets: Vec<_> = (0..95)
        .map(|i| {
            grouped(
                &i.to_string(),
                if i < 10 { Some("19000234009") } else { None },
                None,
            )
        })
        .collect();
    let s = ps_settings();
    let hd = build_board(&tickets, now(), &s, BoardView::Helpdesk, &AgentFilter::All);
    assert_eq!((hd.total_active, hd.alert_level), (85, AlertLevel::Normal));
    let all = board(&tickets, &s);
    assert_eq!(
        (all.total_active, all.alert_level),
        (95, AlertLevel::Warning)
    );
}

// ---- the row's fields -----------------------------------------------------------------

#[test]
fn names_fall_back_in_the_originals_order() {
    let s = BoardSettings::default();
    let row = |t: BoardTicket| board(&[t], &s).section(SectionId::Other).tickets[0].clone();
    let mut t = fs("1", "scheduled", "low");
    assert_eq!(row(t.clone()).agent_name, "Unassigned");
    assert_eq!(row(t.clone()).requester_name, "N/A");
    t.responder_id = Some("77".to_string());
    t.requester_id = Some("55".to_string());
    assert_eq!(row(t.clone()).agent_name, "Agent 77");
    assert_eq!(row(t.clone()).requester_name, "Requester 55");
    t.agent_name = Some("Ada".to_string());
    t.contact_name = Some("Contact Name".to_string());
    assert_eq!(row(t.clone()).agent_name, "Ada");
    assert_eq!(row(t.clone()).requester_name, "Contact Name");
    t.requester_name = Some("On Ticket".to_string());
    assert_eq!(row(t).requester_name, "On Ticket");
}

#[test]
fn rows_serialise_with_the_originals_field_names() {
    let mut t = fs("19001", "open", "high");
    t.fr_due_by = ahead(hours(2));
    t.minutes_spent = 95;
    t.group_id = Some("42".to_string());
    let b = board(&[t], &BoardSettings::default());
    let json = serde_json::to_value(&b.section(SectionId::Open).tickets[0]).unwrap();
    let obj = json.as_object().unwrap();
    for key in [
        "id",
        "ticket_number",
        "subject",
        "description_text",
        "status",
        "status_id",
        "status_text",
        "priority",
        "priority_id",
        "priority_raw",
        "priority_text",
        "type",
        "ticket_type",
        "company_id",
        "requester_id",
        "requester_email",
        "requester_name",
        "responder_id",
        "agent_name",
        "group_id",
        "source",
        "created_at_str",
        "updated_at_str",
        "fr_due_by_str",
        "due_by_str",
        "first_responded_at_iso",
        "agent_responded_at",
        "updated_friendly",
        "created_days_old",
        "agent_responded_friendly",
        "sla_text",
        "sla_class",
        "total_hours_spent",
    ] {
        assert!(obj.contains_key(key), "missing {key}");
    }
    assert_eq!(obj.len(), 33);
    assert_eq!(json["id"], "19001");
    assert_eq!(json["type"], "Incident");
    assert_eq!(json["priority_raw"], 3);
    assert_eq!(json["priority_text"], "High");
    assert_eq!(json["status_text"], "Open");
    assert_eq!(json["sla_text"], "2.0 hours for FR");
    assert_eq!(json["sla_class"], "sla-critical");
    assert_eq!(json["source"], "freshservice");
    assert_eq!(json["fr_due_by_str"], "2026-03-10T14:00:00.000000Z");
    assert_eq!(json["updated_friendly"], "1h ago");
    assert_eq!(json["created_days_old"], "Today");
    assert_eq!(json["agent_responded_friendly"], "N/A");
    assert_eq!(json["total_hours_spent"], 1.58);
}

#[test]
fn envelopes_have_the_originals_shapes() {
    let s = ps_settings();
    let tickets = [fs("1", "open", "low"), fs("2", "customer_replied", "low")];
    let b = build_board(&tickets, now(), &s, BoardView::Helpdesk, &AgentFilter::All);
    let synced = Some(now() - mins(3));

    let codex = serde_json::to_value(b.codex_envelope(synced)).unwrap();
    assert_eq!(codex["section1"][0]["id"], "1");
    assert_eq!(codex["section2"][0]["id"], "2");
    assert_eq!(codex["section3"].as_array().unwrap().len(), 0);
    assert_eq!(codex["total_active"], 2);
    assert_eq!(codex["last_updated"], "2026-03-10T12:00:00.000000Z");
    assert_eq!(codex["last_sync_time"], "2026-03-10T11:57:00.000000Z");

    let beacon = serde_json::to_value(b.beacon_envelope(synced)).unwrap();
    assert_eq!(beacon["s1_items"][0]["id"], "1");
    assert_eq!(beacon["total_active_items"], 2);
    assert_eq!(beacon["view"], "Helpdesk");
    assert_eq!(beacon["section1_name_js"], "Open Helpdesk Tickets");
    assert_eq!(beacon["section4_name_js"], "Other Active Helpdesk Tickets");
    assert_eq!(
        beacon["dashboard_generated_time_iso"],
        "2026-03-10T11:57:00.000000Z"
    );
    assert_eq!(beacon["alert_level"], "normal");
    let unsynced = serde_json::to_value(b.beacon_envelope(None)).unwrap();
    assert_eq!(
        unsynced["dashboard_generated_time_iso"],
        "2026-03-10T12:00:00.000000Z"
    );
    let whole = serde_json::to_value(&b).unwrap();
    assert_eq!(whole["view"], "helpdesk");
    assert_eq!(whole["sections"][1]["id"], "customer_replied");
}

// ---- both PSAs ------------------------------------------------------------------------

/// A SuperOps ticket: same Codex vocabulary, SuperOps's own display names, no numeric
/// status or priority ids.
fn superops(id: &str, status: &str, status_text: &str, priority: &str) -> BoardTicket {
    BoardTicket {
        source: "superops".to_string(),
        status_text: Some(status_text.to_string()),
        status_id: None,
        priority_id: None,
        ..fs(id, status, priority)
    }
}

#[test]
fn superops_tickets_categorise_like_freshservice_ones() {
    let new = responded(superops("s1", "open", "New", "medium"));
    expect(&new, SectionId::Open, "New (FR Met)", SlaClass::Responded);
    let mut unanswered = superops("s2", "open", "New", "medium");
    unanswered.fr_due_by = ahead(hours(3));
    expect(
        &unanswered,
        SectionId::Open,
        "3.0 hours for FR",
        SlaClass::Critical,
    );
    let work = superops("s3", "under_investigation", "In Progress", "low");
    expect(
        &work,
        SectionId::Other,
        "In Progress (1h ago)",
        SlaClass::InProgress,
    );
    let replied = superops("s4", "customer_replied", "Customer Responded", "low");
    assert_eq!(cat(&replied).0, SectionId::CustomerReplied);
    let waiting = superops("s5", "waiting_customer", "Awaiting Client", "low");
    expect(
        &waiting,
        SectionId::Other,
        "Waiting on Customer",
        SlaClass::Responded,
    );
    let stale = with_update(superops("s6", "on_hold", "Paused", "urgent"), hours(1));
    expect(
        &stale,
        SectionId::Overdue,
        "Update Overdue (Paused, 1h ago)",
        SlaClass::Critical,
    );
    let closed = superops("s7", "closed", "Closed", "low");
    let b = board(
        &[new, unanswered, work, closed, stale],
        &BoardSettings::default(),
    );
    assert_eq!(b.total_active, 4);
    // Urgent SuperOps ticket sorts first despite having no priority id.
    assert_eq!(
        b.section(SectionId::Overdue).tickets[0].priority_text,
        "Urgent"
    );
    assert_eq!(b.section(SectionId::Open).tickets[0].source, "superops");
}

#[test]
fn freshservice_display_names_come_from_the_vocabulary_when_missing() {
    let t = fs("1", "job_complete_bill", "low");
    assert_eq!(status_display(&t), "Job Complete - Bill");
    let mut t = fs("1", "waiting_third_party", "low");
    t.status_text = Some("Waiting on Third Party".to_string());
    assert_eq!(status_display(&t), "Waiting on Third Party");
    t.status_text = Some("  ".to_string());
    assert_eq!(status_display(&t), "Waiting on Third Party");
}

// ---- robustness -----------------------------------------------------------------------

#[test]
fn a_ticket_with_nothing_set_lands_in_s4() {
    let t = BoardTicket::default();
    expect(&t, SectionId::Other, "Unknown (N/A)", SlaClass::InProgress);
    let b = board(&[t], &BoardSettings::default());
    let row = &b.section(SectionId::Other).tickets[0];
    assert_eq!(row.priority_text, "Unknown");
    assert_eq!(row.created_days_old, "N/A");
    assert_eq!(row.updated_friendly, "N/A");
    assert_eq!(row.agent_name, "Unassigned");
    assert_eq!(row.total_hours_spent, 0.0);
}

#[test]
fn missing_or_blank_status_is_shown_as_unknown() {
    for status in [None, Some(String::new()), Some("   ".to_string())] {
        let t = BoardTicket {
            status,
            ..fs("1", "x", "low")
        };
        assert!(is_active(&t.status));
        expect(
            &t,
            SectionId::Other,
            "Unknown (1h ago)",
            SlaClass::InProgress,
        );
    }
}

#[test]
fn missing_priority_never_panics_and_sorts_as_low() {
    let mut t = fs("1", "open", "low");
    t.priority = None;
    t.priority_id = None;
    t.fr_due_by = ahead(days(10));
    expect(&t, SectionId::Open, "10.0 days for FR", SlaClass::Normal);
    assert_eq!(priority_rank(&t), 1);
    assert_eq!(priority_display(&t.priority), "Unknown");
}

#[test]
fn extreme_dates_do_not_panic() {
    let far_future = Some(DateTime::<Utc>::MAX_UTC);
    let far_past = Some(DateTime::<Utc>::MIN_UTC);
    let mut t = fs("1", "open", "urgent");
    t.fr_due_by = far_future;
    t.created_at = far_past;
    t.last_updated_at = far_future;
    let (section, text, class) = cat(&t);
    assert_eq!((section, class), (SectionId::Open, SlaClass::Normal));
    assert!(text.ends_with(" days for FR"), "{text}");
    t.last_updated_at = far_past;
    t.agent_responded_at = far_future;
    assert_eq!(cat(&t).0, SectionId::Overdue);
    let b = board(&[t], &BoardSettings::default());
    assert_eq!(b.total_active, 1);
}

#[test]
fn an_empty_board_has_four_empty_sections() {
    let b = board(&[], &BoardSettings::default());
    assert_eq!(b.sections.len(), 4);
    assert!(b.sections.iter().all(|s| s.tickets.is_empty()));
    let numbers: Vec<_> = b.sections.iter().map(|s| s.number).collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
    assert_eq!((b.total_active, b.alert_level), (0, AlertLevel::Normal));
}
