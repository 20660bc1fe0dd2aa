//! The simulators' records, vendor-neutral: one MSP's clients, their people, devices and
//! tickets, generated deterministically from a seed. Vendor routers render these in
//! their own shapes; tests mutate them (and stamp `updated_at`) to play "something
//! changed upstream".
//!
//! Generated times lie before a fixed anchor (2026-01-01), so the same seed gives the
//! same data on any day; changes made later are stamped with the real clock and so sort
//! after everything generated, as an incremental sync expects.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct DatasetSize {
    pub companies: usize,
    pub contacts: usize,
    pub agents: usize,
    pub tickets: usize,
    pub devices: usize,
}

impl Default for DatasetSize {
    fn default() -> Self {
        DatasetSize {
            companies: 40,
            contacts: 400,
            agents: 12,
            tickets: 2000,
            devices: 1200,
        }
    }
}

/// A client company (Freshservice department / SuperOps client).
#[derive(Clone, Debug, PartialEq)]
pub struct SimCompany {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    /// The `account_number` custom field; a few companies have none yet.
    pub account_number: Option<String>,
    pub domains: Vec<String>,
    /// Custom fields as the PSA holds them (plan_selected, contract_term, …).
    pub custom_fields: BTreeMap<String, String>,
    pub head_user_id: Option<i64>,
    pub prime_user_id: Option<i64>,
    pub workspace_id: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SimContact {
    pub id: i64,
    pub first_name: String,
    pub last_name: String,
    /// `None` for a few requesters without a primary email (they cannot be synced).
    pub primary_email: Option<String>,
    pub secondary_emails: Vec<String>,
    pub active: bool,
    pub vip_user: bool,
    pub has_logged_in: bool,
    pub mobile_phone_number: Option<String>,
    pub work_phone_number: Option<String>,
    pub job_title: Option<String>,
    pub department_ids: Vec<i64>,
    pub address: Option<String>,
    pub location_name: Option<String>,
    pub time_zone: String,
    pub language: String,
    pub user_number: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SimAgent {
    pub id: i64,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub active: bool,
    pub job_title: String,
    pub group_ids: Vec<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SimGroup {
    pub id: i64,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SimTimeEntry {
    pub id: i64,
    pub agent_id: i64,
    pub minutes: i64,
    pub billable: bool,
    pub note: String,
    pub executed_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SimConversation {
    pub id: i64,
    pub body_html: String,
    pub private: bool,
    pub incoming: bool,
    pub user_id: i64,
    pub from_email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Statuses are Freshservice codes (2 open, 3 pending, 4 resolved, 5 closed, and the
/// original tenant's custom ones); other vendors map them to their own names.
#[derive(Clone, Debug, PartialEq)]
pub struct SimTicket {
    pub id: i64,
    pub subject: String,
    pub description_html: String,
    pub status: i64,
    pub priority: i64,
    pub ticket_type: String,
    pub source: i64,
    pub requester_id: i64,
    pub responder_id: Option<i64>,
    pub group_id: Option<i64>,
    pub department_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub fr_due_by: DateTime<Utc>,
    pub due_by: DateTime<Utc>,
    pub first_responded_at: Option<DateTime<Utc>>,
    pub agent_responded_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Deleted or spam tickets vanish from normal listings (`filter=deleted` shows them).
    pub deleted: bool,
    pub spam: bool,
    pub time_entries: Vec<SimTimeEntry>,
    pub conversations: Vec<SimConversation>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SimVariable {
    pub id: i64,
    pub name: String,
    pub value: String,
    pub masked: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SimSite {
    pub id: i64,
    pub uid: String,
    pub name: String,
    pub description: Option<String>,
    pub variables: Vec<SimVariable>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SimDevice {
    pub id: i64,
    pub uid: String,
    pub site_uid: String,
    pub hostname: String,
    pub description: Option<String>,
    /// Datto `deviceType.category` / `.type`.
    pub category: String,
    pub device_type: String,
    pub operating_system: String,
    pub int_ip_address: String,
    pub ext_ip_address: String,
    pub domain: Option<String>,
    pub last_logged_in_user: Option<String>,
    pub online: bool,
    pub last_seen: DateTime<Utc>,
    pub last_reboot: DateTime<Utc>,
    pub last_audit_date: DateTime<Utc>,
    pub creation_date: DateTime<Utc>,
    pub antivirus_product: Option<String>,
    pub antivirus_status: Option<String>,
    pub patch_status: String,
    pub warranty_date: Option<String>,
    pub udfs: BTreeMap<String, String>,
    pub deleted: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    pub companies: Vec<SimCompany>,
    pub contacts: Vec<SimContact>,
    pub agents: Vec<SimAgent>,
    pub groups: Vec<SimGroup>,
    pub tickets: Vec<SimTicket>,
    pub sites: Vec<SimSite>,
    pub devices: Vec<SimDevice>,
    next_id: i64,
}

/// Set once by `serve --demo` (see [`anchor_at`]); tests and benchmarks never set it.
static ANCHOR: std::sync::OnceLock<DateTime<Utc>> = std::sync::OnceLock::new();

/// Every generated time lies before this instant: 2026-01-01, so that a seed always
/// gives the same dataset, unless this process asked for another with [`anchor_at`].
pub fn anchor() -> DateTime<Utc> {
    ANCHOR
        .get()
        .copied()
        .unwrap_or_else(|| Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
}

/// Makes datasets generated later in this process end at `t` (the live demo uses its
/// start time, so tickets were updated minutes to days ago rather than a year ago).
/// Only the first call counts; returns whether this one did.
pub fn anchor_at(t: DateTime<Utc>) -> bool {
    ANCHOR.set(t).is_ok()
}

/// Freshservice ids are large numbers; ticket ids are small display numbers.
const DEPARTMENT_BASE: i64 = 19_000_100_000;
const REQUESTER_BASE: i64 = 19_000_200_000;
const AGENT_BASE: i64 = 19_000_300_000;
const GROUP_BASE: i64 = 19_000_234_000;
const ENTRY_BASE: i64 = 19_000_400_000;
const CONVERSATION_BASE: i64 = 19_000_500_000;

const COMPANY_WORDS: &[&str] = &[
    "Alder",
    "Birch",
    "Cedar",
    "Harbor",
    "Summit",
    "Prairie",
    "Granite",
    "Maple",
    "Riverside",
    "Lakeshore",
    "Northwind",
    "Bluegrass",
    "Ironwood",
    "Silverline",
    "Copper",
    "Redwood",
    "Meadow",
    "Pioneer",
    "Keystone",
    "Beacon",
];
const COMPANY_KINDS: &[&str] = &[
    "Dental",
    "Law Group",
    "Accounting",
    "Logistics",
    "Veterinary Clinic",
    "Architects",
    "Insurance",
    "Credit Union",
    "Medical Partners",
    "Construction",
    "Realty",
    "Foundation",
];
const FIRST: &[&str] = &[
    "Ana", "Ben", "Carla", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jon", "Kira", "Liam",
    "Maya", "Noah", "Olga", "Priya", "Quinn", "Ravi", "Sara", "Tom", "Uma", "Victor", "Wen",
    "Yusuf", "Zoe",
];
const LAST: &[&str] = &[
    "Alvarez", "Brooks", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jensen",
    "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Patel", "Quinn", "Rossi", "Schmidt",
    "Tanaka", "Usman", "Varga", "Weber", "Young", "Zhang",
];
const TITLES: &[&str] = &[
    "Office Manager",
    "Accountant",
    "Paralegal",
    "Hygienist",
    "Owner",
    "Receptionist",
    "Project Manager",
    "Controller",
    "Nurse",
    "Engineer",
];
const SUBJECTS: &[&str] = &[
    "Outlook keeps asking for password",
    "Printer offline on second floor",
    "New hire laptop setup",
    "VPN disconnects every hour",
    "Cannot open shared drive",
    "Phishing email reported",
    "Teams audio not working",
    "Replace failing SSD",
    "Firewall firmware update",
    "Reset MFA for user",
    "QuickBooks will not start",
    "Wi-Fi slow in conference room",
    "Backup job failed overnight",
    "Add user to distribution list",
    "Server disk almost full",
];
const PLANS: &[&str] = &["Essential", "Professional", "Premium"];
const GROUPS: &[&str] = &["Helpdesk", "Professional Services", "Projects"];
/// Status codes with weights: mostly closed/resolved, some active in every section.
const STATUSES: &[(i64, u32)] = &[
    (5, 60),
    (4, 12),
    (2, 8),
    (3, 4),
    (9, 4),
    (10, 2),
    (19, 3),
    (23, 2),
    (26, 3),
    (16, 2),
];

impl Dataset {
    pub fn generate(seed: u64, size: &DatasetSize) -> Dataset {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut d = Dataset {
            groups: GROUPS
                .iter()
                .enumerate()
                .map(|(i, n)| SimGroup {
                    id: GROUP_BASE + i as i64 + 1,
                    name: n.to_string(),
                })
                .collect(),
            ..Dataset::default()
        };
        d.gen_companies(&mut rng, size.companies);
        d.gen_contacts(&mut rng, size.contacts);
        d.gen_agents(&mut rng, size.agents);
        d.gen_tickets(&mut rng, size.tickets);
        d.gen_sites_and_devices(&mut rng, size.devices);
        d.next_id = 1;
        d
    }

    /// A fresh id for records added by a test (never collides with generated ones).
    pub fn new_id(&mut self) -> i64 {
        self.next_id += 1;
        90_000_000_000 + self.next_id
    }

    fn gen_companies(&mut self, rng: &mut ChaCha8Rng, n: usize) {
        for i in 0..n {
            let name = format!(
                "{} {}{}",
                COMPANY_WORDS[i % COMPANY_WORDS.len()],
                COMPANY_KINDS[(i / COMPANY_WORDS.len() + i) % COMPANY_KINDS.len()],
                if i >= COMPANY_WORDS.len() * 2 {
                    format!(" {}", i / (COMPANY_WORDS.len() * 2) + 1)
                } else {
                    String::new()
                }
            );
            let slug: String = name
                .to_lowercase()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect();
            let created = past(rng, 900, 400);
            // Every 10th company has no account number yet (the "create account numbers"
            // flow and the RMM push start from those).
            let account_number = (i % 10 != 9).then(|| (100_000 + i * 7919 % 900_000).to_string());
            let mut custom = BTreeMap::new();
            if let Some(a) = &account_number {
                custom.insert("account_number".into(), a.clone());
            }
            custom.insert("plan_selected".into(), PLANS[i % PLANS.len()].into());
            custom.insert(
                "contract_term".into(),
                ["1 year", "Month to Month", "2 years", "3 Year"][i % 4].into(),
            );
            custom.insert(
                "contract_start_date".into(),
                (anchor() - Duration::days(rng.gen_range(30..700)))
                    .format("%Y-%m-%d")
                    .to_string(),
            );
            custom.insert("managed_users".into(), rng.gen_range(3..80).to_string());
            custom.insert("managed_devices".into(), rng.gen_range(3..120).to_string());
            custom.insert(
                "phone_system".into(),
                ["Teams", "RingCentral", "3CX"][i % 3].into(),
            );
            custom.insert(
                "email_system".into(),
                ["Microsoft 365", "Google Workspace"][i % 2].into(),
            );
            custom.insert(
                "profit_or_non_profit".into(),
                if i % 7 == 0 { "Non-Profit" } else { "Profit" }.into(),
            );
            self.companies.push(SimCompany {
                id: DEPARTMENT_BASE + i as i64 + 1,
                name,
                description: (i % 3 == 0).then(|| format!("Client since {}", created.format("%Y"))),
                account_number,
                domains: vec![format!("{slug}.example")],
                custom_fields: custom,
                head_user_id: None,
                prime_user_id: None,
                workspace_id: 2,
                updated_at: created + Duration::days(rng.gen_range(0..300)),
                created_at: created,
            });
        }
    }

    fn gen_contacts(&mut self, rng: &mut ChaCha8Rng, n: usize) {
        let companies = self.companies.len().max(1);
        for i in 0..n {
            let first = FIRST[rng.gen_range(0..FIRST.len())];
            let last = LAST[rng.gen_range(0..LAST.len())];
            let company = self.companies.get(i % companies);
            let domain = company
                .and_then(|c| c.domains.first().cloned())
                .unwrap_or_else(|| "example.net".into());
            let mut departments: Vec<i64> = company.map(|c| vec![c.id]).unwrap_or_default();
            if i % 25 == 0 && companies > 1 {
                departments.push(self.companies[(i + 1) % companies].id);
            }
            let created = past(rng, 800, 10);
            self.contacts.push(SimContact {
                id: REQUESTER_BASE + i as i64 + 1,
                first_name: first.into(),
                last_name: last.into(),
                primary_email: (i % 97 != 96).then(|| {
                    format!(
                        "{}.{}{}@{domain}",
                        first.to_lowercase(),
                        last.to_lowercase(),
                        i
                    )
                }),
                secondary_emails: if i % 11 == 0 {
                    vec![format!("{}{}@alt.{domain}", first.to_lowercase(), i)]
                } else {
                    vec![]
                },
                active: i % 13 != 0,
                vip_user: i % 31 == 0,
                has_logged_in: i % 3 != 0,
                mobile_phone_number: (i % 2 == 0)
                    .then(|| format!("+1 555 01{:02} {:04}", i % 100, i % 10_000)),
                work_phone_number: Some(format!("+1 555 02{:02} {:04}", i % 100, (i * 7) % 10_000)),
                job_title: Some(TITLES[i % TITLES.len()].into()),
                department_ids: departments,
                address: None,
                location_name: (i % 4 == 0).then(|| "Main Office".to_string()),
                time_zone: "Eastern Time (US & Canada)".into(),
                language: "en".into(),
                user_number: (i % 5 == 0).then(|| format!("U{:05}", i)),
                updated_at: created + Duration::days(rng.gen_range(0..200)),
                created_at: created,
            });
        }
        // Head and prime users point at real requesters of the company.
        for c in &mut self.companies {
            let mine: Vec<i64> = self
                .contacts
                .iter()
                .filter(|p| p.department_ids.first() == Some(&c.id))
                .map(|p| p.id)
                .take(2)
                .collect();
            c.head_user_id = mine.first().copied();
            c.prime_user_id = mine.get(1).copied();
        }
    }

    fn gen_agents(&mut self, rng: &mut ChaCha8Rng, n: usize) {
        for i in 0..n {
            let first = FIRST[(i * 3) % FIRST.len()];
            let last = LAST[(i * 5 + 2) % LAST.len()];
            let created = past(rng, 1500, 600);
            self.agents.push(SimAgent {
                id: AGENT_BASE + i as i64 + 1,
                first_name: first.into(),
                last_name: last.into(),
                email: format!(
                    "{}.{}@msp.example",
                    first.to_lowercase(),
                    last.to_lowercase()
                ),
                active: i % 9 != 8,
                job_title: [
                    "Technician",
                    "Senior Technician",
                    "Engineer",
                    "Service Manager",
                ][i % 4]
                    .into(),
                group_ids: vec![self.groups[i % self.groups.len()].id],
                updated_at: created + Duration::days(30),
                created_at: created,
            });
        }
    }

    fn gen_tickets(&mut self, rng: &mut ChaCha8Rng, n: usize) {
        let total_weight: u32 = STATUSES.iter().map(|(_, w)| w).sum();
        let mut entry_id = ENTRY_BASE;
        let mut conv_id = CONVERSATION_BASE;
        for i in 0..n {
            let requester = &self.contacts[rng
                .gen_range(0..self.contacts.len().max(1))
                .min(self.contacts.len().saturating_sub(1))];
            let requester_id = requester.id;
            let requester_email = requester.primary_email.clone();
            let department_id = requester.department_ids.first().copied();
            let mut pick = rng.gen_range(0..total_weight);
            let status = STATUSES
                .iter()
                .find(|(_, w)| {
                    if pick < *w {
                        true
                    } else {
                        pick -= w;
                        false
                    }
                })
                .map(|(s, _)| *s)
                .unwrap_or(5);
            let active = !matches!(status, 4 | 5 | 16);
            // Active tickets are recent; closed ones spread over two years.
            let created = if active {
                past(rng, 20, 0)
            } else {
                past(rng, 720, 3)
            };
            let updated = (created + Duration::minutes(rng.gen_range(10..60 * 24 * 6)))
                .min(anchor() - Duration::minutes(1));
            let agent = (!self.agents.is_empty() && i % 17 != 0)
                .then(|| &self.agents[rng.gen_range(0..self.agents.len())]);
            let responder_id = agent.map(|a| a.id);
            let group_id = agent.and_then(|a| a.group_ids.first().copied());
            let priority = [1, 2, 2, 2, 3, 3, 4][rng.gen_range(0..7)];
            let first_response = (status != 2 || i % 2 == 0)
                .then(|| created + Duration::minutes(rng.gen_range(5..600)));
            let mut time_entries = Vec::new();
            if responder_id.is_some() {
                for _ in 0..rng.gen_range(0..4) {
                    entry_id += 1;
                    let at = created + (updated - created) / 2;
                    time_entries.push(SimTimeEntry {
                        id: entry_id,
                        agent_id: responder_id.unwrap_or_default(),
                        minutes: 5 * rng.gen_range(1..48),
                        billable: rng.gen_bool(0.85),
                        note: "Worked on the issue".into(),
                        executed_at: at,
                        created_at: at,
                        updated_at: at,
                    });
                }
            }
            let mut conversations = Vec::new();
            for k in 0..rng.gen_range(0..4) {
                conv_id += 1;
                let at = created + Duration::minutes(30 * (k + 1));
                let incoming = k % 2 == 1;
                conversations.push(SimConversation {
                    id: conv_id,
                    body_html: if incoming {
                        "<div>Thanks, that <b>worked</b>.</div>".into()
                    } else {
                        "<div>Could you restart &amp; try again?</div>".into()
                    },
                    private: k == 2,
                    incoming,
                    user_id: if incoming {
                        requester_id
                    } else {
                        responder_id.unwrap_or(requester_id)
                    },
                    from_email: if incoming {
                        requester_email.clone()
                    } else {
                        None
                    },
                    created_at: at.min(updated),
                    updated_at: at.min(updated),
                });
            }
            self.tickets.push(SimTicket {
                id: i as i64 + 1,
                subject: SUBJECTS[rng.gen_range(0..SUBJECTS.len())].into(),
                description_html: format!("<p>Reported by requester.<br/>Ticket {}.</p>", i + 1),
                status,
                priority,
                ticket_type: if i % 4 == 0 {
                    "Service Request"
                } else {
                    "Incident"
                }
                .into(),
                source: [1, 2, 3, 4][i % 4],
                requester_id,
                responder_id,
                group_id,
                department_id,
                created_at: created,
                updated_at: updated,
                fr_due_by: created + Duration::hours([24, 12, 4, 1][(priority - 1) as usize]),
                due_by: created + Duration::hours([120, 72, 24, 8][(priority - 1) as usize]),
                first_responded_at: first_response,
                agent_responded_at: first_response,
                resolved_at: matches!(status, 4 | 5 | 16).then_some(updated),
                closed_at: (status == 5).then_some(updated),
                deleted: false,
                spam: false,
                time_entries,
                conversations,
            });
        }
    }

    fn gen_sites_and_devices(&mut self, rng: &mut ChaCha8Rng, n: usize) {
        let mut var_id = 7000;
        for (i, c) in self.companies.iter().enumerate() {
            let sites = if i % 4 == 0 { 2 } else { 1 };
            for s in 0..sites {
                var_id += 1;
                let mut variables = vec![SimVariable {
                    id: var_id,
                    name: "SiteTimezone".into(),
                    value: "America/New_York".into(),
                    masked: false,
                }];
                if let Some(a) = &c.account_number {
                    var_id += 1;
                    variables.push(SimVariable {
                        id: var_id,
                        name: "AccountNumber".into(),
                        value: a.clone(),
                        masked: false,
                    });
                }
                self.sites.push(SimSite {
                    id: 1000 + self.sites.len() as i64,
                    uid: uuid_like(rng),
                    name: if s == 0 {
                        c.name.clone()
                    } else {
                        format!("{} - Branch", c.name)
                    },
                    description: None,
                    variables,
                });
            }
        }
        // One site that belongs to nobody we know (its account number matches no company).
        self.sites.push(SimSite {
            id: 1000 + self.sites.len() as i64,
            uid: uuid_like(rng),
            name: "Former Client LLC".into(),
            description: Some("contract ended".into()),
            variables: vec![SimVariable {
                id: var_id + 1,
                name: "AccountNumber".into(),
                value: "999999".into(),
                masked: false,
            }],
        });
        if self.sites.is_empty() {
            return;
        }
        let kinds: &[(&str, &str, &str, &str)] = &[
            ("Desktop", "physical", "Microsoft Windows 11 Pro 23H2", "WS"),
            ("Laptop", "physical", "Microsoft Windows 11 Pro 23H2", "LT"),
            ("Laptop", "physical", "macOS Sonoma 14.5", "MAC"),
            (
                "Server",
                "physical",
                "Microsoft Windows Server 2022 Standard",
                "SRV",
            ),
            (
                "Server",
                "virtual",
                "Microsoft Windows Server 2019 Standard",
                "VM",
            ),
            ("ESXi Host", "physical", "VMware ESXi 8.0.2", "ESX"),
            ("Network Device", "switch", "Cisco IOS 15.2", "SW"),
            ("Network Device", "firewall", "FortiOS 7.2", "FW"),
        ];
        for i in 0..n {
            let site = &self.sites[i % self.sites.len()];
            let (cat, ty, os, prefix) =
                kinds[[0, 0, 0, 1, 1, 1, 2, 3, 4, 5, 6, 7][rng.gen_range(0..12)]];
            let last_seen = past(rng, 30, 0);
            let mut udfs = BTreeMap::new();
            udfs.insert("udf1".into(), "contoso.onmicrosoft.com".into());
            if cat == "Desktop" || cat == "Laptop" {
                udfs.insert(
                    "udf2".into(),
                    format!(
                        "{:06}-{:06}-{:06}-{:06}",
                        rng.gen_range(0..999_999),
                        rng.gen_range(0..999_999),
                        rng.gen_range(0..999_999),
                        rng.gen_range(0..999_999)
                    ),
                );
            }
            udfs.insert("udf4".into(), "Administrator, itadmin".into());
            if i % 3 == 0 {
                // Backup usage in bytes, as the original's RMM component writes it.
                udfs.insert(
                    "udf6".into(),
                    rng.gen_range(10_000_000_000i64..3_000_000_000_000)
                        .to_string(),
                );
            }
            if i % 50 == 0 {
                udfs.insert("udf150".into(), "beyond the first thirty".into());
            }
            self.devices.push(SimDevice {
                id: 500_000 + i as i64,
                uid: uuid_like(rng),
                site_uid: site.uid.clone(),
                hostname: format!(
                    "{}-{}{:04}",
                    site.name
                        .split_whitespace()
                        .next()
                        .unwrap_or("SITE")
                        .to_uppercase(),
                    prefix,
                    i
                ),
                description: (i % 5 == 0).then(|| "Front desk".to_string()),
                category: cat.into(),
                device_type: ty.into(),
                operating_system: os.into(),
                int_ip_address: format!("10.{}.{}.{}", i % 200, (i / 200) % 250, 10 + i % 240),
                ext_ip_address: format!("203.0.113.{}", 1 + i % 250),
                domain: (cat != "Network Device").then(|| "CORP".to_string()),
                last_logged_in_user: (cat == "Desktop" || cat == "Laptop")
                    .then(|| format!("CORP\\user{}", i % 300)),
                online: rng.gen_bool(0.8),
                last_seen,
                last_reboot: last_seen - Duration::hours(rng.gen_range(1..400)),
                last_audit_date: last_seen - Duration::hours(rng.gen_range(1..48)),
                creation_date: past(rng, 1200, 60),
                antivirus_product: (cat != "Network Device").then(|| "Datto EDR".to_string()),
                antivirus_status: (cat != "Network Device").then(|| {
                    ["RunningAndUpToDate", "RunningAndNotUpToDate", "NotRunning"]
                        [rng.gen_range(0..3)]
                    .to_string()
                }),
                patch_status: [
                    "FullyPatched",
                    "ApprovedPending",
                    "RebootRequired",
                    "NoPolicy",
                ][rng.gen_range(0..4)]
                .into(),
                warranty_date: (i % 2 == 0).then(|| {
                    (anchor() + Duration::days(rng.gen_range(-400..900)))
                        .format("%Y-%m-%d")
                        .to_string()
                }),
                udfs,
                deleted: false,
            });
        }
    }

    pub fn company(&self, id: i64) -> Option<&SimCompany> {
        self.companies.iter().find(|c| c.id == id)
    }

    pub fn ticket_mut(&mut self, id: i64) -> Option<&mut SimTicket> {
        self.tickets.iter_mut().find(|t| t.id == id)
    }
}

/// A random instant between `max_days` and `min_days` before the anchor.
fn past(rng: &mut ChaCha8Rng, max_days: i64, min_days: i64) -> DateTime<Utc> {
    let minutes = rng.gen_range(min_days * 1440..=max_days.max(min_days + 1) * 1440);
    anchor() - Duration::minutes(minutes) - Duration::seconds(rng.gen_range(0..60))
}

fn uuid_like(rng: &mut ChaCha8Rng) -> String {
    let b: [u8; 16] = rng.gen();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_data_and_sizes_hold() {
        let size = DatasetSize {
            companies: 12,
            contacts: 100,
            agents: 5,
            tickets: 300,
            devices: 200,
        };
        let a = Dataset::generate(7, &size);
        let b = Dataset::generate(7, &size);
        assert_eq!(a, b);
        assert_ne!(a, Dataset::generate(8, &size));
        assert_eq!(a.companies.len(), 12);
        assert_eq!(a.contacts.len(), 100);
        assert_eq!(a.tickets.len(), 300);
        assert_eq!(a.devices.len(), 200);
        assert!(a.tickets.iter().all(|t| t.updated_at < anchor()));
        assert!(a.tickets.iter().any(|t| !t.time_entries.is_empty()));
        assert!(a.companies.iter().any(|c| c.account_number.is_none()));
        let uids: std::collections::HashSet<_> = a.devices.iter().map(|d| &d.uid).collect();
        assert_eq!(uids.len(), a.devices.len(), "device uids are unique");
        let accts: std::collections::HashSet<_> = a
            .companies
            .iter()
            .filter_map(|c| c.account_number.as_ref())
            .collect();
        assert_eq!(
            accts.len(),
            a.companies
                .iter()
                .filter(|c| c.account_number.is_some())
                .count()
        );
    }
}
