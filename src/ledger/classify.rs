//! Asset classification: which billing class (Workstation, Server, VM, Switch, Firewall,
//! No Charge) a Codex device falls into when no per-asset override says otherwise.
//!
//! The original had no rules at all: every device was billed as a Workstation, servers
//! and hypervisors included. Here an ordered table an admin can edit decides; the first
//! rule whose criteria all match wins. Criteria are case-insensitive glob patterns
//! (`*` any run of characters, `?` one character, `|` separates alternatives) over the
//! RMM category (Codex `hardware_type`), RMM type (`device_type`), operating system and
//! hostname. A criterion left empty matches anything; a set criterion never matches a
//! device that lacks the field.

use super::model::{AssetClass, AssetInput};
use serde::{Deserialize, Serialize};

/// One row of the classification table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassRule {
    /// Shown on the bill line ("rule: Server OS").
    pub name: String,
    pub category: Option<String>,
    pub rmm_type: Option<String>,
    pub os: Option<String>,
    pub hostname: Option<String>,
    pub class: AssetClass,
}

/// The outcome for one device, with the reason in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub class: AssetClass,
    pub rule: String,
    /// True when no rule matched and the fallback class was used.
    pub by_default: bool,
}

/// Class for a device no rule matches. Workstation, because that is what the original
/// billed every device as (so a migrated company's total does not drop silently), and
/// because billing an unknown device at the lowest device rate is safer than giving it
/// away; the engine adds a warning so someone classifies it properly.
pub const DEFAULT_CLASS: AssetClass = AssetClass::Workstation;

fn rule(name: &str, criteria: [Option<&str>; 4], class: AssetClass) -> ClassRule {
    let [category, rmm_type, os, hostname] = criteria.map(|c| c.map(str::to_string));
    ClassRule {
        name: name.to_string(),
        category,
        rmm_type,
        os,
        hostname,
        class,
    }
}

/// The shipped table. Order matters: a VM running a server OS is billed as a VM, a
/// hypervisor host is a server, a server OS makes a server whatever the category says,
/// network devices are told apart by their RMM type.
pub fn default_rules() -> Vec<ClassRule> {
    use AssetClass::*;
    vec![
        rule(
            "Virtual machine",
            [Some("virtual machine|vm"), None, None, None],
            Vm,
        ),
        rule(
            "Hypervisor host",
            [Some("*esxi*|*hypervisor*"), None, None, None],
            Server,
        ),
        rule(
            "Hypervisor OS",
            [None, None, Some("*esxi*|*hyper-v server*|*proxmox*"), None],
            Server,
        ),
        rule("Server", [Some("server"), None, None, None], Server),
        rule("Server OS", [None, None, Some("*server*"), None], Server),
        rule(
            "Firewall",
            [
                Some("network device"),
                Some("*firewall*|*utm*|*gateway*"),
                None,
                None,
            ],
            Firewall,
        ),
        rule(
            "Switch",
            [Some("network device"), Some("*switch*"), None, None],
            Switch,
        ),
        // Routers, access points…: network equipment at the network (switch) rate
        // rather than the workstation rate or free.
        rule(
            "Other network device",
            [Some("network device"), None, None, None],
            Switch,
        ),
        rule("Printer", [Some("printer"), None, None, None], NoCharge),
        // Phones and tablets are covered by the per-user price.
        rule(
            "Mobile device",
            [Some("mobile device"), None, None, None],
            NoCharge,
        ),
        rule(
            "Workstation",
            [Some("workstation|desktop|laptop"), None, None, None],
            Workstation,
        ),
    ]
}

/// Classifies one device by the first matching rule, else `DEFAULT_CLASS`.
pub fn classify(asset: &AssetInput, rules: &[ClassRule]) -> Classification {
    match rules.iter().find(|r| rule_matches(r, asset)) {
        Some(r) => Classification {
            class: r.class,
            rule: format!("classification rule \"{}\"", r.name),
            by_default: false,
        },
        None => Classification {
            class: DEFAULT_CLASS,
            rule: format!("no classification rule matched: {}", DEFAULT_CLASS.label()),
            by_default: true,
        },
    }
}

fn rule_matches(rule: &ClassRule, asset: &AssetInput) -> bool {
    criterion(&rule.category, &asset.rmm_category)
        && criterion(&rule.rmm_type, &asset.rmm_type)
        && criterion(&rule.os, &asset.operating_system)
        && criterion(&rule.hostname, &Some(asset.hostname.clone()))
}

fn criterion(pattern: &Option<String>, value: &Option<String>) -> bool {
    match (pattern.as_deref().map(str::trim), value.as_deref()) {
        (None, _) | (Some(""), _) => true,
        (Some(_), None) => false,
        (Some(p), Some(v)) => pattern_matches(p, v),
    }
}

/// Case-insensitive glob with `|` alternatives; surrounding spaces are ignored.
pub fn pattern_matches(pattern: &str, value: &str) -> bool {
    let value: Vec<char> = value.trim().to_lowercase().chars().collect();
    pattern.split('|').any(|alt| {
        let alt: Vec<char> = alt.trim().to_lowercase().chars().collect();
        glob(&alt, &value)
    })
}

/// Iterative glob match: on a mismatch, retry from the last `*` one character later.
fn glob(p: &[char], v: &[char]) -> bool {
    let (mut pi, mut vi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, vi));
                pi += 1;
            }
            Some(&c) if c == '?' || c == v[vi] => {
                pi += 1;
                vi += 1;
            }
            _ => match star {
                Some((sp, sv)) => {
                    pi = sp + 1;
                    vi = sv + 1;
                    star = Some((sp, sv + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use AssetClass::*;

    fn asset(category: Option<&str>, rmm_type: Option<&str>, os: Option<&str>) -> AssetInput {
        AssetInput {
            id: 1,
            hostname: "HOST-01".into(),
            rmm_category: category.map(Into::into),
            rmm_type: rmm_type.map(Into::into),
            operating_system: os.map(Into::into),
            backup_bytes: None,
        }
    }

    fn class_of(category: Option<&str>, rmm_type: Option<&str>, os: Option<&str>) -> AssetClass {
        classify(&asset(category, rmm_type, os), &default_rules()).class
    }

    #[test]
    fn glob_patterns() {
        assert!(pattern_matches("*server*", "Windows Server 2022"));
        assert!(pattern_matches("server", " SERVER "));
        assert!(!pattern_matches("server", "Servers"));
        assert!(pattern_matches("ws-??", "ws-01"));
        assert!(!pattern_matches("ws-??", "ws-001"));
        assert!(pattern_matches("a*b*c", "axxbyyc"));
        assert!(!pattern_matches("a*b*c", "axxbyy"));
        assert!(pattern_matches("x|y*", "yes"));
        assert!(pattern_matches("*", ""));
        assert!(!pattern_matches("", "x"));
    }

    #[test]
    fn workstations_desktops_and_laptops_are_workstations() {
        assert_eq!(
            class_of(Some("Workstation"), None, Some("Windows 11")),
            Workstation
        );
        assert_eq!(class_of(Some("Desktop"), None, None), Workstation);
        assert_eq!(
            class_of(Some("Laptop"), None, Some("macOS 14")),
            Workstation
        );
    }

    #[test]
    fn servers_are_servers_by_category_or_os() {
        assert_eq!(class_of(Some("Server"), None, None), Server);
        // A server OS wins over a workstation category (mis-tagged in the RMM).
        assert_eq!(
            class_of(Some("Workstation"), None, Some("Windows Server 2019")),
            Server
        );
        assert_eq!(class_of(None, None, Some("Ubuntu Server 22.04")), Server);
    }

    #[test]
    fn hypervisors_are_servers_not_workstations() {
        assert_eq!(class_of(Some("ESXI Host"), None, None), Server);
        assert_eq!(
            class_of(Some("Unknown"), None, Some("VMware ESXi 8.0")),
            Server
        );
        assert_eq!(class_of(None, None, Some("Proxmox VE 8")), Server);
    }

    #[test]
    fn virtual_machines_are_vms_even_with_a_server_os() {
        assert_eq!(
            class_of(Some("Virtual Machine"), None, Some("Windows Server 2022")),
            Vm
        );
    }

    #[test]
    fn network_devices_by_type() {
        assert_eq!(
            class_of(Some("Network Device"), Some("Firewall"), None),
            Firewall
        );
        assert_eq!(
            class_of(Some("Network Device"), Some("UTM appliance"), None),
            Firewall
        );
        assert_eq!(
            class_of(Some("Network Device"), Some("Managed Switch"), None),
            Switch
        );
        assert_eq!(
            class_of(Some("Network Device"), Some("Access Point"), None),
            Switch
        );
        assert_eq!(class_of(Some("Network Device"), None, None), Switch);
    }

    #[test]
    fn printers_and_mobiles_are_not_charged() {
        assert_eq!(class_of(Some("Printer"), None, None), NoCharge);
        assert_eq!(
            class_of(Some("Mobile Device"), None, Some("iOS 17")),
            NoCharge
        );
    }

    #[test]
    fn unknown_devices_fall_back_to_workstation_and_say_so() {
        let c = classify(&asset(None, None, None), &default_rules());
        assert_eq!(c.class, Workstation);
        assert!(c.by_default);
        let c = classify(
            &asset(Some("Unknown"), None, Some("Windows 10")),
            &default_rules(),
        );
        assert!(c.by_default);
        let c = classify(&asset(Some("Server"), None, None), &default_rules());
        assert!(!c.by_default);
        assert_eq!(c.rule, "classification rule \"Server\"");
    }

    #[test]
    fn hostname_rules_and_order_are_honoured() {
        let mut rules = default_rules();
        rules.insert(
            0,
            ClassRule {
                name: "Lab boxes are free".into(),
                category: None,
                rmm_type: None,
                os: None,
                hostname: Some("lab-*".into()),
                class: NoCharge,
            },
        );
        let mut a = asset(Some("Server"), None, None);
        a.hostname = "LAB-7".into();
        assert_eq!(classify(&a, &rules).class, NoCharge);
        a.hostname = "PROD-7".into();
        assert_eq!(classify(&a, &rules).class, Server);
    }

    #[test]
    fn set_criterion_never_matches_a_missing_field_and_empty_matches_all() {
        let r = |os: Option<&str>| ClassRule {
            name: "r".into(),
            category: None,
            rmm_type: None,
            os: os.map(Into::into),
            hostname: None,
            class: Firewall,
        };
        assert_eq!(
            classify(&asset(None, None, None), &[r(Some("*"))]).class,
            Workstation
        );
        assert_eq!(
            classify(&asset(None, None, None), &[r(Some(" "))]).class,
            Firewall
        );
        assert_eq!(
            classify(&asset(None, None, None), &[r(None)]).class,
            Firewall
        );
        assert!(classify(&asset(None, None, None), &[]).by_default);
    }
}
