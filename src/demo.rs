//! The demo dataset: a realistic, deterministic MSP estate (companies, contacts,
//! assets, RMM sites, PSA agents, two years of tickets with time entries and
//! conversations, billing plans and features) for trying the product and for the
//! benchmark.
//!
//! Determinism: the same `--seed` and counts give the same content (names, numbers,
//! hostnames, e-mails, relations, counts). Dates are offsets drawn from the seeded
//! generator but applied to an anchor of *now* (truncated to the second), so tickets
//! always look current; only the dates differ between two runs.
//!
//! Speed: every table is written with multi-row INSERTs (as many rows per statement as
//! the backend's bind-variable limit allows) inside one transaction, so a failure leaves
//! nothing behind. Rows are linked through their natural keys (account number, e-mail,
//! external ids) read back after each table, never through guessed row ids.

use crate::Db;
use anyhow::{bail, Context};
use chrono::{DateTime, Duration, Utc};
use rand::distributions::WeightedIndex;
use rand::prelude::*;
use rand_chacha::ChaCha8Rng;
use sqlx::{AnyConnection, Row};
use std::collections::{HashMap, HashSet};
use std::time::Instant;

#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    #[arg(long, default_value_t = 500)]
    pub companies: usize,
    #[arg(long, default_value_t = 15000)]
    pub contacts: usize,
    #[arg(long, default_value_t = 25000)]
    pub assets: usize,
    #[arg(long, default_value_t = 100000)]
    pub tickets: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl Default for DemoArgs {
    fn default() -> Self {
        DemoArgs {
            companies: 500,
            contacts: 15000,
            assets: 25000,
            tickets: 100000,
            seed: 1,
        }
    }
}

/// What was written, and how long it took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoReport {
    pub companies: u64,
    pub contacts: u64,
    pub assets: u64,
    pub locations: u64,
    pub site_links: u64,
    pub agents: u64,
    pub tickets: u64,
    pub time_entries: u64,
    pub conversations: u64,
    pub plans: u64,
    pub millis: u128,
}

impl std::fmt::Display for DemoReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "demo data: {} companies, {} contacts, {} assets, {} locations, {} RMM sites, \
             {} PSA agents, {} tickets, {} time entries, {} conversations, {} billing plans in {:.1} s",
            self.companies,
            self.contacts,
            self.assets,
            self.locations,
            self.site_links,
            self.agents,
            self.tickets,
            self.time_entries,
            self.conversations,
            self.plans,
            self.millis as f64 / 1000.0
        )
    }
}

/// Loads the dataset and returns the one-line report. Refuses (writing nothing) when
/// the database already has companies.
pub async fn generate(db: &Db, args: &DemoArgs) -> anyhow::Result<String> {
    Ok(generate_report(db, args).await?.to_string())
}

pub async fn generate_report(db: &Db, args: &DemoArgs) -> anyhow::Result<DemoReport> {
    check_args(args)?;
    let started = Instant::now();
    let mut tx = db.pool.begin().await?;
    let existing: i64 = sqlx::query("SELECT COUNT(*) FROM companies")
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    if existing > 0 {
        bail!(
            "the database already has {existing} companies; demo data is only loaded into an empty database"
        );
    }
    let mut w = Writer {
        conn: &mut tx,
        max_params: match db.backend {
            // SQLite resolves `$N` parameters by name, with a linear search per
            // parameter, so statement cost grows with the square of its parameter
            // count: a few hundred per statement is fastest (the hard limit is 32766).
            crate::db::Backend::Sqlite => SQLITE_PARAMS,
            // PostgreSQL allows 65535; beyond a few thousand there is nothing to gain.
            crate::db::Backend::Postgres => 8192,
        },
    };
    let plan = Plan::draw(args);
    let mut report = plan.write(&mut w).await.context("writing demo data")?;
    tx.commit().await?;
    // Fresh statistics, so the planners see 100,000 tickets rather than an empty table
    // (PostgreSQL otherwise sorts whole tables until autovacuum gets round to it).
    sqlx::query("ANALYZE")
        .execute(&db.pool)
        .await
        .context("analyzing demo data")?;
    report.millis = started.elapsed().as_millis();
    Ok(report)
}

const SQLITE_PARAMS: usize = 256;

/// Writes only the billing plans, their features and the feature options (existing
/// rows win): what `serve --demo` needs beside the data its simulators sync in.
pub async fn write_plans_only(db: &Db) -> anyhow::Result<u64> {
    let args = DemoArgs {
        companies: 1,
        contacts: 0,
        assets: 0,
        tickets: 0,
        seed: 1,
    };
    let mut tx = db.pool.begin().await?;
    let mut w = Writer {
        conn: &mut tx,
        max_params: SQLITE_PARAMS,
    };
    let written = Plan::draw(&args)
        .write_plans(&mut w)
        .await
        .context("writing demo billing plans")?;
    tx.commit().await?;
    Ok(written)
}

fn check_args(a: &DemoArgs) -> anyhow::Result<()> {
    if !(1..=100_000).contains(&a.companies) {
        bail!("--companies must be between 1 and 100000");
    }
    for (name, n) in [
        ("contacts", a.contacts),
        ("assets", a.assets),
        ("tickets", a.tickets),
    ] {
        if n > 5_000_000 {
            bail!("--{name} must be at most 5000000");
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Batched writes
// ---------------------------------------------------------------------------

/// One bound value, typed so that PostgreSQL sees the column's type even for NULLs.
enum Val {
    I(i64),
    OI(Option<i64>),
    T(String),
    OT(Option<String>),
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::I(v)
    }
}
impl From<bool> for Val {
    fn from(v: bool) -> Val {
        Val::I(v as i64)
    }
}
impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Val {
        Val::OI(v)
    }
}
impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::T(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::T(v.to_string())
    }
}
impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Val {
        Val::OT(v)
    }
}
impl From<Option<&str>> for Val {
    fn from(v: Option<&str>) -> Val {
        Val::OT(v.map(str::to_string))
    }
}

macro_rules! row {
    ($($v:expr),* $(,)?) => { vec![$(Val::from($v)),*] };
}

struct Writer<'a> {
    conn: &'a mut AnyConnection,
    max_params: usize,
}

/// Rows of one table, flushed as one multi-row INSERT whenever the statement is full.
struct Batch {
    table: &'static str,
    cols: &'static [&'static str],
    suffix: &'static str,
    per_stmt: usize,
    full_sql: String,
    buf: Vec<Val>,
    rows: usize,
    written: u64,
}

impl Batch {
    fn new(w: &Writer<'_>, table: &'static str, cols: &'static [&'static str]) -> Batch {
        Batch::with_suffix(w, table, cols, "")
    }

    /// `suffix` follows the VALUES list, e.g. `ON CONFLICT DO NOTHING` (both backends).
    fn with_suffix(
        w: &Writer<'_>,
        table: &'static str,
        cols: &'static [&'static str],
        suffix: &'static str,
    ) -> Batch {
        // Very long statements cost parse time without saving round trips.
        let per_stmt = (w.max_params / cols.len()).clamp(1, 1000);
        let mut b = Batch {
            table,
            cols,
            suffix,
            per_stmt,
            full_sql: String::new(),
            buf: Vec::with_capacity(per_stmt * cols.len()),
            rows: 0,
            written: 0,
        };
        b.full_sql = b.sql(per_stmt);
        b
    }

    fn sql(&self, rows: usize) -> String {
        let n = self.cols.len();
        let mut s = format!(
            "INSERT INTO {} ({}) VALUES ",
            self.table,
            self.cols.join(", ")
        );
        for r in 0..rows {
            s.push_str(if r == 0 { "(" } else { ", (" });
            for c in 0..n {
                if c > 0 {
                    s.push_str(", ");
                }
                s.push('$');
                s.push_str(&(r * n + c + 1).to_string());
            }
            s.push(')');
        }
        if !self.suffix.is_empty() {
            s.push(' ');
            s.push_str(self.suffix);
        }
        s
    }

    async fn push(&mut self, w: &mut Writer<'_>, row: Vec<Val>) -> anyhow::Result<()> {
        debug_assert_eq!(row.len(), self.cols.len(), "row shape for {}", self.table);
        self.buf.extend(row);
        self.rows += 1;
        if self.rows == self.per_stmt {
            self.flush(w).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, w: &mut Writer<'_>) -> anyhow::Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let partial;
        let sql = if self.rows == self.per_stmt {
            &self.full_sql
        } else {
            partial = self.sql(self.rows);
            &partial
        };
        let mut q = sqlx::query(sql);
        for v in self.buf.drain(..) {
            q = match v {
                Val::I(i) => q.bind(i),
                Val::OI(i) => q.bind(i),
                Val::T(s) => q.bind(s),
                Val::OT(s) => q.bind(s),
            };
        }
        q.execute(&mut *w.conn)
            .await
            .with_context(|| format!("inserting into {}", self.table))?;
        self.written += self.rows as u64;
        self.rows = 0;
        Ok(())
    }

    /// Flushes what is left and returns the number of rows written.
    async fn finish(mut self, w: &mut Writer<'_>) -> anyhow::Result<u64> {
        self.flush(w).await?;
        Ok(self.written)
    }
}

/// `key → id` of the rows of a table (the second column must be text).
async fn id_map(w: &mut Writer<'_>, sql: &str) -> anyhow::Result<HashMap<String, i64>> {
    let rows = sqlx::query(sql).fetch_all(&mut *w.conn).await?;
    rows.iter()
        .map(|r| Ok((r.try_get::<String, _>(1)?, r.try_get::<i64, _>(0)?)))
        .collect()
}

// ---------------------------------------------------------------------------
// Vocabulary
// ---------------------------------------------------------------------------

const PREFIXES: &[&str] = &[
    "Acme",
    "Blue Ridge",
    "Cedar Creek",
    "Summit",
    "Harbor",
    "Pioneer",
    "Evergreen",
    "Redwood",
    "Granite",
    "Silver Lake",
    "Northwind",
    "Riverbend",
    "Oakmont",
    "Willow",
    "Lakeside",
    "Maple Grove",
    "Ironwood",
    "Coastal",
    "Valley",
    "Highland",
    "Prairie",
    "Cascade",
    "Sunrise",
    "Meridian",
    "Keystone",
    "Liberty",
    "Heritage",
    "Crescent",
    "Falcon",
    "Eagle",
    "Stonebridge",
    "Fairview",
    "Westfield",
    "Brookside",
    "Clearwater",
    "Pinecrest",
    "Rocky Mountain",
    "Bayview",
    "Copper",
    "Aspen",
    "Juniper",
    "Sequoia",
    "Horizon",
    "Atlas",
    "Beacon",
    "Lighthouse",
    "Canyon",
    "Timberline",
    "Frontier",
    "Mesa",
    "Sierra",
    "Tidewater",
    "Orchard",
    "Hillcrest",
    "Glacier",
    "Prospect",
    "Union",
    "Capital",
    "Founders",
    "Greenleaf",
];

/// (industry, compliance level, non-profit?)
const INDUSTRIES: &[(&str, &str, bool)] = &[
    ("Dental Care", "hipaa", false),
    ("Family Law", "standard", false),
    ("Veterinary Hospital", "standard", false),
    ("Accounting", "standard", false),
    ("Construction", "standard", false),
    ("Manufacturing", "standard", false),
    ("Logistics", "standard", false),
    ("Realty", "standard", false),
    ("Insurance Agency", "standard", false),
    ("Medical Group", "hipaa", false),
    ("Engineering", "standard", false),
    ("Architects", "standard", false),
    ("Credit Union", "standard", true),
    ("School District", "standard", true),
    ("Police Department", "cjis", true),
    ("Community Church", "standard", true),
    ("Foundation", "standard", true),
    ("Brewing Company", "standard", false),
    ("Auto Group", "standard", false),
    ("Landscaping", "standard", false),
    ("Plumbing & Heating", "standard", false),
    ("Marketing", "standard", false),
    ("Financial Advisors", "standard", false),
    ("Pediatrics", "hipaa", false),
    ("Orthodontics", "hipaa", false),
    ("Title & Escrow", "standard", false),
    ("Hotel", "standard", false),
    ("Winery", "standard", false),
    ("Printing", "standard", false),
    ("Electric", "standard", false),
];

const CITIES: &[(&str, &str, &str, &str)] = &[
    ("Portland", "OR", "97205", "Pacific Time (US & Canada)"),
    ("Eugene", "OR", "97401", "Pacific Time (US & Canada)"),
    ("Salem", "OR", "97301", "Pacific Time (US & Canada)"),
    ("Seattle", "WA", "98101", "Pacific Time (US & Canada)"),
    ("Spokane", "WA", "99201", "Pacific Time (US & Canada)"),
    ("Sacramento", "CA", "95814", "Pacific Time (US & Canada)"),
    ("Boise", "ID", "83702", "Mountain Time (US & Canada)"),
    ("Denver", "CO", "80202", "Mountain Time (US & Canada)"),
    (
        "Salt Lake City",
        "UT",
        "84101",
        "Mountain Time (US & Canada)",
    ),
    ("Austin", "TX", "78701", "Central Time (US & Canada)"),
    ("Omaha", "NE", "68102", "Central Time (US & Canada)"),
    ("Madison", "WI", "53703", "Central Time (US & Canada)"),
    ("Columbus", "OH", "43215", "Eastern Time (US & Canada)"),
    ("Raleigh", "NC", "27601", "Eastern Time (US & Canada)"),
    ("Richmond", "VA", "23219", "Eastern Time (US & Canada)"),
    ("Albany", "NY", "12207", "Eastern Time (US & Canada)"),
];

const STREETS: &[&str] = &[
    "Main St",
    "Oak Ave",
    "Commerce Way",
    "Industrial Blvd",
    "Market St",
    "2nd Ave",
    "Park Pl",
    "River Rd",
    "Center St",
    "Broadway",
    "Airport Rd",
    "Pine St",
    "Willamette St",
    "Elm Dr",
];

const FIRST: &[&str] = &[
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Betty",
    "Mark",
    "Sandra",
    "Steven",
    "Ashley",
    "Paul",
    "Kimberly",
    "Andrew",
    "Emily",
    "Joshua",
    "Donna",
    "Kevin",
    "Michelle",
    "Brian",
    "Carol",
    "George",
    "Amanda",
    "Timothy",
    "Melissa",
    "Ronald",
    "Deborah",
    "Jason",
    "Stephanie",
    "Ryan",
    "Rebecca",
    "Jacob",
    "Laura",
    "Gary",
    "Sharon",
    "Nicholas",
    "Cynthia",
    "Eric",
    "Kathleen",
    "Jonathan",
    "Amy",
    "Priya",
    "Wei",
    "Carlos",
    "Fatima",
    "Mateo",
    "Aiko",
    "Omar",
    "Sofia",
    "Ivan",
    "Chloe",
];

const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
    "Cook",
    "Rogers",
    "Gutierrez",
    "Ortiz",
    "Morgan",
    "Cooper",
    "Peterson",
    "Bailey",
    "Reed",
    "Kelly",
    "Howard",
    "Kim",
    "Patel",
    "Chen",
    "Okafor",
    "Novak",
];

const TITLES: &[&str] = &[
    "Office Manager",
    "Owner",
    "CEO",
    "CFO",
    "Controller",
    "Bookkeeper",
    "Receptionist",
    "Paralegal",
    "Attorney",
    "Project Manager",
    "Sales Representative",
    "Account Manager",
    "HR Manager",
    "Operations Manager",
    "IT Coordinator",
    "Engineer",
    "Technician",
    "Nurse",
    "Physician",
    "Marketing Coordinator",
    "Administrative Assistant",
    "Warehouse Lead",
    "Estimator",
    "Superintendent",
    "Customer Service Representative",
    "Analyst",
    "Director",
];

const PLAN_NAMES: &[&str] = &["Essential", "Professional", "Premium"];
const PLAN_WEIGHTS: &[u32] = &[35, 45, 20];
const TERMS: &[(&str, &str, i64)] = &[
    // (normalised term, raw PSA spelling, price in percent of the month-to-month price)
    ("Month to Month", "monthly", 100),
    ("1 Year", "1 year", 95),
    ("2 Year", "2 years", 90),
    ("3 Year", "3 years", 85),
];
const TERM_WEIGHTS: &[u32] = &[20, 45, 15, 20];

/// Month-to-month prices in cents: user, workstation, server, vm, switch, firewall,
/// ticket hour, backup base workstation, backup base server, included TB (centi), per TB.
const PRICES: [[i64; 11]; 3] = [
    [
        2500, 4500, 12500, 7500, 1500, 2500, 12500, 2500, 5000, 100, 1500,
    ],
    [
        4500, 6500, 17500, 9500, 2000, 3500, 11000, 2500, 5000, 100, 1500,
    ],
    [
        6500, 8500, 22500, 12500, 2500, 4500, 9500, 2000, 4000, 200, 1200,
    ],
];
const SUPPORT: [&str; 3] = ["Billed Hourly", "All Inclusive", "All Inclusive"];

/// (feature key, display name, value per plan)
const FEATURES: &[(&str, &str, [&str; 3])] = &[
    (
        "antivirus",
        "Antivirus",
        ["Windows Defender", "SentinelOne", "SentinelOne Complete"],
    ),
    ("soc", "SOC", ["Not Included", "Not Included", "24/7 SOC"]),
    (
        "password_manager",
        "Password Manager",
        ["Not Included", "Keeper", "Keeper"],
    ),
    ("sat", "SAT", ["Not Included", "KnowBe4", "KnowBe4"]),
    (
        "email_security",
        "Email Security",
        [
            "Microsoft Defender",
            "Proofpoint Essentials",
            "Proofpoint Advanced",
        ],
    ),
    (
        "network_management",
        "Network Management",
        ["Not Included", "Included", "Included"],
    ),
    (
        "backup",
        "Backup",
        ["Not Included", "Datto BCDR", "Datto BCDR"],
    ),
];
const EMAIL_SYSTEMS: &[&str] = &["Microsoft 365", "Google Workspace", "Exchange On-Premises"];
const PHONE_SYSTEMS: &[&str] = &[
    "RingCentral",
    "Microsoft Teams Phone",
    "3CX",
    "Vonage",
    "None",
];

/// (kind code, hardware_type, device_type, weight)
const ASSET_KINDS: &[(&str, &str, &str, u32)] = &[
    ("WS", "Workstation", "Workstation", 52),
    ("LT", "Laptop", "Laptop", 32),
    ("SRV", "Server", "Server", 6),
    ("VM", "Virtual Machine", "VM", 5),
    ("SW", "Network Device", "Switch", 3),
    ("FW", "Network Device", "Firewall", 2),
];

const WS_MODELS: &[(&str, &str, &str)] = &[
    ("Dell Inc.", "OptiPlex 7090", "Windows 11 Pro 23H2"),
    ("Dell Inc.", "OptiPlex 5000", "Windows 10 Pro 22H2"),
    ("HP", "EliteDesk 800 G6", "Windows 11 Pro 23H2"),
    ("Lenovo", "ThinkCentre M70q", "Windows 11 Pro 22H2"),
    ("Apple Inc.", "iMac 24-inch", "macOS Sonoma 14.5"),
];
const LT_MODELS: &[(&str, &str, &str)] = &[
    ("Lenovo", "ThinkPad T14 Gen 3", "Windows 11 Pro 23H2"),
    ("Dell Inc.", "Latitude 5440", "Windows 11 Pro 23H2"),
    ("HP", "EliteBook 840 G9", "Windows 10 Pro 22H2"),
    ("Apple Inc.", "MacBook Pro 14-inch", "macOS Sonoma 14.5"),
    (
        "Microsoft Corporation",
        "Surface Laptop 5",
        "Windows 11 Pro 23H2",
    ),
];
const SRV_MODELS: &[(&str, &str, &str)] = &[
    (
        "Dell Inc.",
        "PowerEdge R650",
        "Windows Server 2022 Standard",
    ),
    (
        "Dell Inc.",
        "PowerEdge T350",
        "Windows Server 2019 Standard",
    ),
    (
        "HPE",
        "ProLiant DL380 Gen10",
        "Windows Server 2022 Datacenter",
    ),
];
const VM_MODELS: &[(&str, &str, &str)] = &[
    (
        "VMware, Inc.",
        "VMware Virtual Platform",
        "Windows Server 2022 Standard",
    ),
    (
        "Microsoft Corporation",
        "Virtual Machine",
        "Windows Server 2019 Standard",
    ),
    ("QEMU", "Standard PC (Q35)", "Ubuntu 22.04 LTS"),
];
const SW_MODELS: &[(&str, &str, &str)] = &[
    ("Cisco", "Catalyst 9200L", "Cisco IOS XE 17.9"),
    ("Ubiquiti", "UniFi Switch Pro 24", "UniFi OS 6.6"),
    ("Aruba", "Instant On 1930", "ArubaOS-S 16.11"),
];
const FW_MODELS: &[(&str, &str, &str)] = &[
    ("Fortinet", "FortiGate 60F", "FortiOS 7.2.8"),
    ("Cisco Meraki", "MX68", "MX 18.107"),
    ("SonicWall", "TZ370", "SonicOS 7.0"),
];

const PATCH: &[&str] = &[
    "Fully Patched",
    "Fully Patched",
    "Fully Patched",
    "Approved Pending",
    "Install Error",
    "Reboot Required",
    "No Policy",
];
const AV: &[&str] = &["SentinelOne", "Windows Defender", "Sophos Intercept X"];

/// (FS status id, normalised, display text)
const CLOSED_STATUSES: &[(i64, &str, &str, u32)] = &[
    (5, "closed", "Closed", 80),
    (4, "resolved", "Resolved", 10),
    (16, "billing_complete", "Billing Complete - Close", 7),
    (15, "job_complete_bill", "Job Complete - Bill", 3),
];
const ACTIVE_STATUSES: &[(i64, &str, &str, u32)] = &[
    (2, "open", "Open", 30),
    (3, "pending", "Pending", 15),
    (9, "waiting_customer", "Waiting on Customer", 15),
    (23, "on_hold", "On Hold", 8),
    (26, "customer_replied", "Customer Replied", 8),
    (19, "update_needed", "Update Needed", 8),
    (8, "scheduled", "Scheduled", 6),
    (10, "waiting_third_party", "Waiting on Third Party", 5),
    (13, "under_investigation", "Under Investigation", 5),
];
/// (priority id, name, first-response minutes, resolution minutes, weight)
const PRIORITIES: &[(i64, &str, i64, i64, u32)] = &[
    (1, "low", 24 * 60, 5 * 24 * 60, 30),
    (2, "medium", 8 * 60, 3 * 24 * 60, 45),
    (3, "high", 4 * 60, 24 * 60, 20),
    (4, "urgent", 60, 4 * 60, 5),
];

/// Subject templates: `{name}` a contact, `{host}` a device of the company.
const SUBJECTS: &[(&str, &str)] = &[
    ("Outlook keeps asking for my password", "Email"),
    ("Printer on the second floor is offline", "Printing"),
    ("New user setup: {name}", "Access"),
    ("VPN will not connect from home", "Network"),
    ("{host} is running very slow", "Hardware"),
    ("Password reset for {name}", "Access"),
    ("Please install Adobe Acrobat on {host}", "Software"),
    ("Offboard {name}", "Access"),
    ("Access to the shared drive for {name}", "Access"),
    ("Wi-Fi keeps dropping in the conference room", "Network"),
    ("Reported phishing email", "Email"),
    ("Backup failed on {host}", "Hardware"),
    ("Teams audio not working in meetings", "Software"),
    ("Laptop will not boot after update", "Hardware"),
    ("QuickBooks cannot open company file", "Software"),
    ("Scanner does not send to email", "Printing"),
    ("Monitor flickering at front desk", "Hardware"),
    ("MFA prompt not arriving for {name}", "Access"),
    ("Internet down at the office", "Network"),
    ("Request: second monitor for {name}", "Hardware"),
    ("Mailbox full warning", "Email"),
    ("Windows update stuck on {host}", "Software"),
    ("Phone system voicemail not delivering", "Network"),
    ("Replace failing disk in {host}", "Hardware"),
];
const NOTES: &[&str] = &[
    "Remote session with the user",
    "Onsite visit",
    "Researched the issue and applied the fix",
    "Followed up with the vendor",
    "Configured and tested",
    "Documentation updated",
];
const REPLIES: &[&str] = &[
    "Thanks for reaching out, I am looking into this now.",
    "Could you tell me when this started and whether anyone else is affected?",
    "I have applied a fix; please let me know if it happens again.",
    "Thank you, that worked!",
    "It is still happening this morning.",
    "I will connect remotely in five minutes.",
];
const PRIVATE_NOTES: &[&str] = &[
    "Checked the event log: disk warnings since last week.",
    "Vendor ticket opened, waiting for a callback.",
    "Credentials are in the password manager under the company vault.",
    "Escalated to professional services.",
];

const HELPDESK_GROUP: (&str, &str) = ("19000234010", "Helpdesk");
const PRO_SERVICES_GROUP: (&str, &str) = ("19000234009", "Professional Services");

// ---------------------------------------------------------------------------
// The plan: everything drawn in memory first (small), then written in one pass
// ---------------------------------------------------------------------------

struct CompanyDraft {
    account: String,
    name: String,
    short: String,
    domain: String,
    industry: usize,
    city: usize,
    plan: Option<(usize, usize)>,
    parent: Option<usize>,
    sites: Vec<(String, String)>,
    ext_ip: String,
    subnet: u8,
    start_days_ago: i64,
    contacts: Vec<usize>,
    assets: usize,
    locations: usize,
}

struct ContactDraft {
    company: usize,
    first: &'static str,
    last: &'static str,
    email: String,
    active: bool,
    title: &'static str,
    extra_company: Option<usize>,
}

struct Plan {
    seed: u64,
    anchor: DateTime<Utc>,
    companies: Vec<CompanyDraft>,
    contacts: Vec<ContactDraft>,
    tickets: usize,
    company_weights: Vec<f64>,
}

fn weighted<T: Copy>(rng: &mut ChaCha8Rng, items: &[T], weights: &[u32]) -> T {
    let dist = WeightedIndex::new(weights).expect("static weights are valid");
    items[dist.sample(rng)]
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    *items.choose(rng).expect("static lists are not empty")
}

fn slug(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_lowercase()
}

/// Hostname prefix: the first word's first four letters plus the next word's initial
/// (`Blue Ridge Dental Care` → `BLUER`).
fn short_name(name: &str) -> String {
    let mut words = name.split_whitespace().map(slug).filter(|w| !w.is_empty());
    let first: String = words.next().unwrap_or_default().chars().take(4).collect();
    let second: String = words.next().unwrap_or_default().chars().take(1).collect();
    format!("{first}{second}").to_uppercase()
}

fn hex(rng: &mut ChaCha8Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

fn uuid(rng: &mut ChaCha8Rng) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        hex(rng, 8),
        hex(rng, 4),
        hex(rng, 4),
        hex(rng, 4),
        hex(rng, 12)
    )
}

fn phone(rng: &mut ChaCha8Rng) -> String {
    format!(
        "+1 ({}) 555-{:04}",
        rng.gen_range(201..990),
        rng.gen_range(100..10000)
    )
}

/// Splits `total` over the weights, giving each slot `min_each` first when possible.
fn allocate(rng: &mut ChaCha8Rng, total: usize, weights: &[f64], min_each: usize) -> Vec<usize> {
    let mut counts = vec![0usize; weights.len()];
    let mut left = total;
    if total >= weights.len() * min_each {
        counts.iter_mut().for_each(|c| *c = min_each);
        left -= weights.len() * min_each;
    }
    let dist = WeightedIndex::new(weights).expect("weights are positive");
    for _ in 0..left {
        counts[dist.sample(rng)] += 1;
    }
    counts
}

impl Plan {
    fn draw(args: &DemoArgs) -> Plan {
        let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
        let now = Utc::now();
        let anchor = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
        // A few big clients and a long tail of small offices.
        let company_weights: Vec<f64> = (0..args.companies)
            .map(|_| 1.0 + 30.0 * rng.gen::<f64>().powi(4))
            .collect();
        let mut companies = draw_companies(&mut rng, args.companies);
        let contact_counts = allocate(&mut rng, args.contacts, &company_weights, 1);
        let asset_counts = allocate(&mut rng, args.assets, &company_weights, 0);
        let mut contacts = Vec::with_capacity(args.contacts);
        let mut emails = HashSet::new();
        for (ci, n) in contact_counts.iter().enumerate() {
            for _ in 0..*n {
                let k = draw_contact(&mut rng, &companies, ci, &mut emails);
                companies[ci].contacts.push(contacts.len());
                contacts.push(k);
            }
            companies[ci].assets = asset_counts[ci];
        }
        Plan {
            seed: args.seed,
            anchor,
            companies,
            contacts,
            tickets: args.tickets,
            company_weights,
        }
    }

    fn ts(&self, secs_ago: i64) -> String {
        crate::time::to_db(self.anchor - Duration::seconds(secs_ago))
    }

    fn date(&self, days_ago: i64) -> String {
        (self.anchor - Duration::days(days_ago))
            .format("%Y-%m-%d")
            .to_string()
    }

    async fn write(&self, w: &mut Writer<'_>) -> anyhow::Result<DemoReport> {
        let mut rep = DemoReport {
            plans: self.write_plans(w).await?,
            ..DemoReport::default()
        };
        let company_ids = self.write_companies(w, &mut rep).await?;
        let contact_ids = self.write_contacts(w, &company_ids, &mut rep).await?;
        let agents = self.write_agents(w, &mut rep).await?;
        let hosts = self
            .write_assets(w, &company_ids, &contact_ids, &mut rep)
            .await?;
        self.write_tickets(w, &company_ids, &contact_ids, &agents, &hosts, &mut rep)
            .await?;
        Ok(rep)
    }
}

fn draw_companies(rng: &mut ChaCha8Rng, n: usize) -> Vec<CompanyDraft> {
    let mut names = HashSet::new();
    let mut accounts = HashSet::new();
    let mut domains = HashSet::new();
    let mut out: Vec<CompanyDraft> = Vec::with_capacity(n);
    for i in 0..n {
        let industry = rng.gen_range(0..INDUSTRIES.len());
        let city = rng.gen_range(0..CITIES.len());
        let mut name = format!("{} {}", pick(rng, PREFIXES), INDUSTRIES[industry].0);
        if !names.insert(name.clone()) {
            name = format!("{name} of {}", CITIES[city].0);
            let mut k = 2;
            while !names.insert(name.clone()) {
                name = format!("{} {} {k}", pick(rng, PREFIXES), INDUSTRIES[industry].0);
                k += 1;
            }
        }
        let mut account = rng.gen_range(100_000..1_000_000).to_string();
        while !accounts.insert(account.clone()) {
            account = rng.gen_range(100_000..1_000_000).to_string();
        }
        let tld = pick(rng, &[".com", ".com", ".com", ".net", ".org", ".us"]);
        let mut domain = format!("{}{tld}", slug(&name));
        while !domains.insert(domain.clone()) {
            domain = format!("{}{}{tld}", slug(&name), rng.gen_range(2..100));
        }
        let plan = if rng.gen_bool(0.95) {
            let p = weighted(rng, &[0usize, 1, 2], PLAN_WEIGHTS);
            let t = weighted(rng, &[0usize, 1, 2, 3], TERM_WEIGHTS);
            Some((p, t))
        } else {
            None // break-fix clients without a contract
        };
        // Some clients are branches of an earlier one.
        let parent = (i > 10 && rng.gen_bool(0.03)).then(|| rng.gen_range(0..i));
        let mut sites = vec![(uuid(rng), name.clone())];
        if rng.gen_bool(0.1) {
            sites.push((uuid(rng), format!("{name} - Warehouse")));
        }
        out.push(CompanyDraft {
            short: short_name(&name),
            ext_ip: format!(
                "{}.{}",
                pick(rng, &["203.0.113", "198.51.100", "192.0.2"]),
                rng.gen_range(1..255)
            ),
            subnet: rng.gen_range(0..255),
            start_days_ago: rng.gen_range(30..4000),
            locations: weighted(rng, &[0usize, 1, 2, 3], &[50, 30, 15, 5]),
            account,
            name,
            domain,
            industry,
            city,
            plan,
            parent,
            sites,
            contacts: vec![],
            assets: 0,
        });
    }
    out
}

fn draw_contact(
    rng: &mut ChaCha8Rng,
    companies: &[CompanyDraft],
    ci: usize,
    emails: &mut HashSet<String>,
) -> ContactDraft {
    let first = pick(rng, FIRST);
    let last = pick(rng, LAST);
    let domain = &companies[ci].domain;
    let base = format!("{}.{}", first.to_lowercase(), last.to_lowercase());
    let mut email = format!("{base}@{domain}");
    let mut k = 2;
    while !emails.insert(email.clone()) {
        email = format!("{base}{k}@{domain}");
        k += 1;
    }
    let extra_company = (companies.len() > 1 && rng.gen_bool(0.03)).then(|| {
        companies[ci]
            .parent
            .unwrap_or_else(|| (ci + rng.gen_range(1..companies.len())) % companies.len())
    });
    ContactDraft {
        company: ci,
        first,
        last,
        email,
        active: rng.gen_bool(0.92),
        title: pick(rng, TITLES),
        extra_company,
    }
}

// ---------------------------------------------------------------------------
// Writers per table group
// ---------------------------------------------------------------------------

const PLAN_COLS: &[&str] = &[
    "plan_name",
    "term_length",
    "support_level",
    "per_user_cost_cents",
    "per_workstation_cost_cents",
    "per_server_cost_cents",
    "per_vm_cost_cents",
    "per_switch_cost_cents",
    "per_firewall_cost_cents",
    "per_hour_ticket_cost_cents",
    "backup_base_fee_workstation_cents",
    "backup_base_fee_server_cents",
    "backup_included_tb_centi",
    "backup_per_tb_fee_cents",
    "created_at",
    "updated_at",
];

/// Discounted price rounded to a quarter dollar.
fn term_price(cents: i64, percent: i64) -> i64 {
    (cents * percent / 100 + 12) / 25 * 25
}

impl Plan {
    /// Billing plans (3 names × 4 terms), their features, the feature options and
    /// categories. Existing rows win (`ON CONFLICT DO NOTHING`): plans may have been
    /// imported before the demo data.
    async fn write_plans(&self, w: &mut Writer<'_>) -> anyhow::Result<u64> {
        let now = crate::time::now_db();
        let mut plans = Batch::with_suffix(w, "billing_plans", PLAN_COLS, "ON CONFLICT DO NOTHING");
        for (p, name) in PLAN_NAMES.iter().enumerate() {
            for (term, _, pct) in TERMS {
                let mut r = row![*name, *term, SUPPORT[p]];
                for (i, cents) in PRICES[p].iter().enumerate() {
                    // Included TB is a quantity, not a price: no discount.
                    r.push(Val::I(if i == 9 {
                        *cents
                    } else {
                        term_price(*cents, *pct)
                    }));
                }
                r.extend(row![now.clone(), now.clone()]);
                plans.push(w, r).await?;
            }
        }
        let written = plans.finish(w).await?;
        let ids = id_map(
            w,
            "SELECT id, plan_name || '|' || term_length FROM billing_plans",
        )
        .await?;
        let mut feats = Batch::with_suffix(
            w,
            "plan_features",
            &["plan_id", "feature_type", "feature_value"],
            "ON CONFLICT DO NOTHING",
        );
        for (p, name) in PLAN_NAMES.iter().enumerate() {
            for (term, _, _) in TERMS {
                let Some(id) = ids.get(&format!("{name}|{term}")) else {
                    continue;
                };
                for (key, _, values) in FEATURES {
                    feats.push(w, row![*id, *key, values[p]]).await?;
                }
            }
        }
        feats.finish(w).await?;
        self.write_feature_options(w).await?;
        Ok(written)
    }

    async fn write_feature_options(&self, w: &mut Writer<'_>) -> anyhow::Result<()> {
        let mut opts = Batch::with_suffix(
            w,
            "feature_options",
            &[
                "feature_category",
                "option_value",
                "display_name",
                "description",
            ],
            "ON CONFLICT DO NOTHING",
        );
        let mut cats = Batch::with_suffix(
            w,
            "feature_categories",
            &["feature_key", "display_name", "full_name", "description"],
            "ON CONFLICT DO NOTHING",
        );
        let mut seen = HashSet::new();
        let extra: [(&str, &str, &[&str]); 2] = [
            ("email", "Email System", EMAIL_SYSTEMS),
            ("phone", "Phone System", PHONE_SYSTEMS),
        ];
        let lists = FEATURES
            .iter()
            .map(|(k, d, v)| (*k, *d, v.as_slice()))
            .chain(extra);
        for (key, display, values) in lists {
            cats.push(w, row![key, display, display, None::<String>])
                .await?;
            for v in std::iter::once(&"Not Included").chain(values) {
                if seen.insert((key, *v)) {
                    opts.push(w, row![key, *v, *v, None::<String>]).await?;
                }
            }
        }
        opts.finish(w).await?;
        cats.finish(w).await?;
        Ok(())
    }
}

const COMPANY_COLS: &[&str] = &[
    "account_number",
    "name",
    "description",
    "compliance_level",
    "psa_provider",
    "external_source",
    "external_id",
    "head_user_id",
    "head_name",
    "prime_user_id",
    "prime_user_name",
    "domains",
    "workspace_id",
    "billing_plan",
    "contract_term",
    "contract_term_length",
    "contract_start_date",
    "contract_end_date",
    "support_level",
    "managed_users",
    "managed_devices",
    "managed_network",
    "profit_or_non_profit",
    "company_main_number",
    "address",
    "company_start_date",
    "phone_system",
    "email_system",
    "datto_portal_url",
    "psa_created_at",
    "psa_updated_at",
    "created_at",
    "updated_at",
];

fn contact_ext_id(i: usize) -> String {
    format!("{}", 19_001_000_000u64 + i as u64)
}

fn company_ext_id(i: usize) -> String {
    format!("{}", 19_000_100_000u64 + i as u64)
}

impl Plan {
    /// Companies, their parent links, locations and RMM site links; returns
    /// draft index → row id.
    async fn write_companies(
        &self,
        w: &mut Writer<'_>,
        rep: &mut DemoReport,
    ) -> anyhow::Result<Vec<i64>> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed.wrapping_add(1));
        let now = crate::time::now_db();
        let mut b = Batch::new(w, "companies", COMPANY_COLS);
        for (i, c) in self.companies.iter().enumerate() {
            let r = self.company_row(&mut rng, i, c, &now);
            b.push(w, r).await?;
        }
        rep.companies = b.finish(w).await?;
        let by_account = id_map(w, "SELECT id, account_number FROM companies").await?;
        let ids: Vec<i64> = self
            .companies
            .iter()
            .map(|c| by_account[&c.account])
            .collect();
        for (i, c) in self.companies.iter().enumerate() {
            if let Some(p) = c.parent {
                sqlx::query("UPDATE companies SET parent_company_id = $1 WHERE id = $2")
                    .bind(ids[p])
                    .bind(ids[i])
                    .execute(&mut *w.conn)
                    .await?;
            }
        }
        self.write_locations_and_sites(w, &ids, &now, rep).await?;
        Ok(ids)
    }

    fn company_row(&self, rng: &mut ChaCha8Rng, i: usize, c: &CompanyDraft, now: &str) -> Vec<Val> {
        let (industry, compliance, non_profit) = INDUSTRIES[c.industry];
        let (city, state, zip, _) = CITIES[c.city];
        let head = c.contacts.first().map(|k| &self.contacts[*k]);
        let prime = c.contacts.get(1).map(|k| &self.contacts[*k]).or(head);
        let person = |k: Option<&ContactDraft>| k.map(|k| format!("{} {}", k.first, k.last));
        let head_id = c.contacts.first().map(|k| contact_ext_id(*k));
        let prime_id = c
            .contacts
            .get(1)
            .or(c.contacts.first())
            .map(|k| contact_ext_id(*k));
        let start = self.date(rng.gen_range(0..1000));
        let (plan, raw_term, term, end, support) = match c.plan {
            Some((p, t)) => {
                let term = TERMS[t].0;
                (
                    Some(PLAN_NAMES[p]),
                    Some(TERMS[t].1),
                    Some(term),
                    crate::codex::companies::contract_end(&start, term),
                    Some(SUPPORT[p]),
                )
            }
            None => (None, None, None, None, None),
        };
        let active_users = c
            .contacts
            .iter()
            .filter(|k| self.contacts[**k].active)
            .count();
        let address = format!(
            "{} {}, {city}, {state} {zip}",
            rng.gen_range(100..9999),
            pick(rng, STREETS)
        );
        let created = self.ts(c.start_days_ago * 86_400);
        row![
            c.account.clone(),
            c.name.clone(),
            Some(format!("{industry} client in {city}, {state}")),
            compliance,
            "freshservice",
            "freshservice",
            company_ext_id(i),
            head_id,
            person(head),
            prime_id,
            person(prime),
            serde_json::json!([c.domain]).to_string(),
            Some(2i64),
            plan,
            raw_term,
            term,
            plan.map(|_| start.clone()),
            end,
            support,
            Some(active_users.to_string()),
            Some(c.assets.to_string()),
            Some(rng.gen_range(1..4i64).to_string()),
            Some(if non_profit { "Non-Profit" } else { "Profit" }),
            Some(phone(rng)),
            Some(address),
            Some(self.date(c.start_days_ago)),
            Some(pick(rng, PHONE_SYSTEMS)),
            Some(pick(rng, EMAIL_SYSTEMS)),
            Some(format!(
                "https://zinfandel.centrastage.net/csm/profile/site/{}",
                c.sites[0].0
            )),
            Some(created.clone()),
            Some(self.ts(rng.gen_range(0..30 * 86_400))),
            now,
            now,
        ]
    }

    async fn write_locations_and_sites(
        &self,
        w: &mut Writer<'_>,
        ids: &[i64],
        now: &str,
        rep: &mut DemoReport,
    ) -> anyhow::Result<()> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed.wrapping_add(2));
        let mut locs = Batch::new(
            w,
            "locations",
            &[
                "company_id",
                "name",
                "address",
                "phone_number",
                "created_at",
                "updated_at",
            ],
        );
        let mut sites = Batch::new(
            w,
            "rmm_site_links",
            &[
                "company_id",
                "rmm_provider",
                "rmm_site_uid",
                "rmm_site_name",
                "created_at",
                "updated_at",
            ],
        );
        for (i, c) in self.companies.iter().enumerate() {
            for l in 0..c.locations {
                let (city, state, zip, _) = pick(&mut rng, CITIES);
                let name = match l {
                    0 => "Main Office".to_string(),
                    1 => "Warehouse".to_string(),
                    _ => format!("Branch - {city}"),
                };
                let address = format!(
                    "{} {}, {city}, {state} {zip}",
                    rng.gen_range(100..9999),
                    pick(&mut rng, STREETS)
                );
                locs.push(
                    w,
                    row![ids[i], name, Some(address), Some(phone(&mut rng)), now, now],
                )
                .await?;
            }
            for (uid, name) in &c.sites {
                sites
                    .push(
                        w,
                        row![ids[i], "datto", uid.clone(), Some(name.clone()), now, now],
                    )
                    .await?;
            }
        }
        rep.locations = locs.finish(w).await?;
        rep.site_links = sites.finish(w).await?;
        Ok(())
    }
}

const CONTACT_COLS: &[&str] = &[
    "external_source",
    "external_id",
    "first_name",
    "last_name",
    "name",
    "email",
    "secondary_emails",
    "active",
    "is_agent",
    "vip_user",
    "has_logged_in",
    "mobile_phone_number",
    "work_phone_number",
    "job_title",
    "employment_type",
    "department_names",
    "location_name",
    "language",
    "time_zone",
    "time_format",
    "user_number",
    "psa_created_at",
    "psa_updated_at",
    "created_at",
    "updated_at",
];

impl Plan {
    /// Contacts and their company links (one primary per company); returns
    /// draft index → row id.
    async fn write_contacts(
        &self,
        w: &mut Writer<'_>,
        company_ids: &[i64],
        rep: &mut DemoReport,
    ) -> anyhow::Result<Vec<i64>> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed.wrapping_add(3));
        let now = crate::time::now_db();
        let mut b = Batch::new(w, "contacts", CONTACT_COLS);
        for (i, k) in self.contacts.iter().enumerate() {
            let c = &self.companies[k.company];
            let secondary = if rng.gen_bool(0.1) {
                serde_json::json!([format!("{}@{}", k.first.to_lowercase(), c.domain)]).to_string()
            } else {
                "[]".into()
            };
            let employment = weighted(
                &mut rng,
                &["Full Time", "Part Time", "Contractor"],
                &[85, 10, 5],
            );
            let created = self.ts(rng.gen_range(86_400..c.start_days_ago.max(2) * 86_400));
            let r = row![
                "freshservice",
                Some(contact_ext_id(i)),
                Some(k.first),
                Some(k.last),
                format!("{} {}", k.first, k.last),
                k.email.clone(),
                secondary,
                k.active,
                false,
                rng.gen_bool(0.05),
                rng.gen_bool(0.6),
                rng.gen_bool(0.7).then(|| phone(&mut rng)),
                rng.gen_bool(0.8).then(|| phone(&mut rng)),
                Some(k.title),
                employment,
                serde_json::json!([c.name]).to_string(),
                Some(CITIES[c.city].0),
                "en",
                Some(CITIES[c.city].3),
                Some("12h"),
                Some(format!("U{:05}", i + 1)),
                Some(created.clone()),
                Some(created),
                now.clone(),
                now.clone(),
            ];
            b.push(w, r).await?;
        }
        rep.contacts = b.finish(w).await?;
        let by_email = id_map(w, "SELECT id, email FROM contacts").await?;
        let ids: Vec<i64> = self.contacts.iter().map(|k| by_email[&k.email]).collect();
        let mut links = Batch::new(
            w,
            "contact_companies",
            &["contact_id", "company_id", "is_primary"],
        );
        for c in &self.companies {
            for (n, k) in c.contacts.iter().enumerate() {
                links
                    .push(
                        w,
                        row![ids[*k], company_ids[self.contacts[*k].company], n == 0],
                    )
                    .await?;
            }
        }
        for (i, k) in self.contacts.iter().enumerate() {
            if let Some(extra) = k.extra_company.filter(|e| *e != k.company) {
                links
                    .push(w, row![ids[i], company_ids[extra], false])
                    .await?;
            }
        }
        links.finish(w).await?;
        Ok(ids)
    }

    /// About fifteen PSA agents (technicians); returns (row id, external id, name).
    async fn write_agents(
        &self,
        w: &mut Writer<'_>,
        rep: &mut DemoReport,
    ) -> anyhow::Result<Vec<(i64, String, String)>> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed.wrapping_add(4));
        let now = crate::time::now_db();
        let mut b = Batch::new(
            w,
            "psa_agents",
            &[
                "external_source",
                "external_id",
                "email",
                "first_name",
                "last_name",
                "active",
                "job_title",
                "group_ids",
                "psa_created_at",
                "psa_updated_at",
                "created_at",
                "updated_at",
            ],
        );
        let mut names = Vec::new();
        let mut used = HashSet::new();
        for i in 0..15 {
            let (mut first, mut last) = (pick(&mut rng, FIRST), pick(&mut rng, LAST));
            while !used.insert((first, last)) {
                (first, last) = (pick(&mut rng, FIRST), pick(&mut rng, LAST));
            }
            let title = match i {
                0 => "Service Manager",
                1..=3 => "Senior Systems Engineer",
                4 => "Network Engineer",
                _ => "Service Desk Technician",
            };
            let groups = if i < 5 {
                format!("[{},{}]", PRO_SERVICES_GROUP.0, HELPDESK_GROUP.0)
            } else {
                format!("[{}]", HELPDESK_GROUP.0)
            };
            let ext = format!("{}", 19_000_010_000u64 + i as u64);
            let created = self.ts(rng.gen_range(400..2000) * 86_400);
            b.push(
                w,
                row![
                    "freshservice",
                    ext.clone(),
                    Some(format!(
                        "{}.{}@northwind-it.com",
                        first.to_lowercase(),
                        last.to_lowercase()
                    )),
                    Some(first),
                    Some(last),
                    i != 14, // one former employee
                    Some(title),
                    groups,
                    Some(created.clone()),
                    Some(created),
                    now.clone(),
                    now.clone(),
                ],
            )
            .await?;
            names.push((ext, format!("{first} {last}")));
        }
        rep.agents = b.finish(w).await?;
        let ids = id_map(
            w,
            "SELECT id, external_id FROM psa_agents WHERE external_source = 'freshservice'",
        )
        .await?;
        Ok(names
            .into_iter()
            .map(|(ext, name)| (ids[&ext], ext, name))
            .collect())
    }
}

const ASSET_COLS: &[&str] = &[
    "company_id",
    "hostname",
    "external_source",
    "external_id",
    "description",
    "hardware_type",
    "device_type",
    "operating_system",
    "manufacturer",
    "model",
    "serial_number",
    "last_logged_in_user",
    "rmm_site_uid",
    "rmm_site_name",
    "antivirus_product",
    "antivirus_status",
    "ext_ip_address",
    "int_ip_address",
    "domain",
    "last_audit_date",
    "last_reboot",
    "last_seen",
    "online",
    "patch_status",
    "backup_usage_bytes",
    "enabled_administrators",
    "warranty_expires",
    "portal_url",
    "web_remote_url",
    "udfs",
    "created_at",
    "updated_at",
];

const GIB: i64 = 1 << 30;

impl Plan {
    /// Assets per company with their assigned users; returns each company's hostnames
    /// (ticket subjects mention them).
    async fn write_assets(
        &self,
        w: &mut Writer<'_>,
        company_ids: &[i64],
        contact_ids: &[i64],
        rep: &mut DemoReport,
    ) -> anyhow::Result<Vec<Vec<String>>> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed.wrapping_add(5));
        let now = crate::time::now_db();
        let mut b = Batch::new(w, "assets", ASSET_COLS);
        let mut hosts = Vec::with_capacity(self.companies.len());
        let mut users: Vec<(String, usize)> = Vec::new();
        for (ci, c) in self.companies.iter().enumerate() {
            let mut seq: HashMap<&str, usize> = HashMap::new();
            let mut names = Vec::with_capacity(c.assets);
            for _ in 0..c.assets {
                let kind = weighted(
                    &mut rng,
                    ASSET_KINDS,
                    &ASSET_KINDS.iter().map(|k| k.3).collect::<Vec<_>>(),
                );
                let n = seq.entry(kind.0).or_insert(0);
                *n += 1;
                let hostname = format!("{}-{}-{:03}", c.short, kind.0, n);
                let user =
                    (!c.contacts.is_empty() && matches!(kind.0, "WS" | "LT") && rng.gen_bool(0.6))
                        .then(|| c.contacts[rng.gen_range(0..c.contacts.len())]);
                let uid = uuid(&mut rng);
                if let Some(u) = user {
                    users.push((uid.clone(), u));
                }
                let r = self.asset_row(
                    &mut rng,
                    c,
                    company_ids[ci],
                    kind,
                    &hostname,
                    uid,
                    user,
                    &now,
                );
                b.push(w, r).await?;
                names.push(hostname);
            }
            hosts.push(names);
        }
        rep.assets = b.finish(w).await?;
        let by_uid = id_map(
            w,
            "SELECT id, external_id FROM assets WHERE external_source = 'datto'",
        )
        .await?;
        let mut links = Batch::new(w, "asset_contacts", &["asset_id", "contact_id"]);
        for (uid, k) in users {
            links.push(w, row![by_uid[&uid], contact_ids[k]]).await?;
        }
        links.finish(w).await?;
        Ok(hosts)
    }

    #[allow(clippy::too_many_arguments)]
    fn asset_row(
        &self,
        rng: &mut ChaCha8Rng,
        c: &CompanyDraft,
        company_id: i64,
        kind: (&str, &str, &str, u32),
        hostname: &str,
        uid: String,
        user: Option<usize>,
        now: &str,
    ) -> Vec<Val> {
        let (code, hardware, device, _) = kind;
        let models = match code {
            "WS" => WS_MODELS,
            "LT" => LT_MODELS,
            "SRV" => SRV_MODELS,
            "VM" => VM_MODELS,
            "SW" => SW_MODELS,
            _ => FW_MODELS,
        };
        let (maker, model, os) = pick(rng, models);
        let is_pc = matches!(code, "WS" | "LT" | "SRV" | "VM");
        let windows = os.starts_with("Windows");
        let online = rng.gen_bool(if is_pc { 0.7 } else { 0.97 });
        let seen = if online {
            rng.gen_range(0..600)
        } else {
            rng.gen_range(3_600..40 * 86_400)
        };
        let backup = match code {
            "SRV" | "VM" if rng.gen_bool(0.9) => Some(rng.gen_range(200..4_000) * GIB),
            "WS" | "LT" if rng.gen_bool(0.2) => Some(rng.gen_range(20..500) * GIB),
            _ => None,
        };
        let login = user.map(|k| {
            let k = &self.contacts[k];
            format!(
                "{}\\{}{}",
                c.short,
                &k.first[..1].to_lowercase(),
                k.last.to_lowercase()
            )
        });
        let admins = is_pc.then(|| "Administrator, itadmin".to_string());
        let site = &c.sites[rng.gen_range(0..c.sites.len())];
        let mut udfs = serde_json::Map::new();
        udfs.insert(
            "udf1".into(),
            format!("{}.onmicrosoft.com", c.short.to_lowercase()).into(),
        );
        if windows && code == "LT" {
            let key: Vec<String> = (0..8)
                .map(|_| format!("{:06}", rng.gen_range(0..1_000_000)))
                .collect();
            udfs.insert("udf2".into(), key.join("-").into());
        }
        if is_pc {
            let size = pick(rng, &[237i64, 476, 953, 1863]);
            udfs.insert(
                "udf3".into(),
                format!("C: {size} GB ({}% free)", rng.gen_range(5..80)).into(),
            );
            udfs.insert("udf4".into(), "Administrator, itadmin".into());
        }
        if windows && matches!(code, "WS" | "LT") {
            let ready = if os.contains("11") || rng.gen_bool(0.6) {
                "Capable"
            } else {
                "Not Capable"
            };
            udfs.insert("udf5".into(), ready.into());
        }
        if let Some(bytes) = backup {
            udfs.insert("udf6".into(), bytes.to_string().into());
        }
        udfs.insert("udf7".into(), device.into());
        let int_ip = format!(
            "10.{}.{}.{}",
            c.subnet,
            rng.gen_range(0..4),
            rng.gen_range(10..250)
        );
        let warranty = self.date(-rng.gen_range(-700..1100));
        row![
            company_id,
            hostname,
            "datto",
            Some(uid.clone()),
            Some(format!("{model} ({device})")),
            Some(hardware),
            Some(device),
            Some(os),
            Some(maker),
            Some(model),
            Some(hex(rng, 7).to_uppercase()),
            login,
            Some(site.0.clone()),
            Some(site.1.clone()),
            is_pc.then(|| pick(rng, AV)),
            is_pc.then_some("Running & up-to-date"),
            Some(c.ext_ip.clone()),
            Some(int_ip),
            Some(format!("{}.local", c.short.to_lowercase())),
            Some(self.ts(seen + rng.gen_range(0..86_400))),
            Some(self.ts(seen + rng.gen_range(0..14 * 86_400))),
            Some(self.ts(seen)),
            online,
            is_pc.then(|| pick(rng, PATCH)),
            backup,
            admins,
            Some(warranty),
            Some(format!(
                "https://zinfandel.centrastage.net/csm/device/{uid}"
            )),
            is_pc.then(|| format!("https://zinfandel.centrastage.net/csm/remote/{uid}")),
            serde_json::Value::Object(udfs).to_string(),
            now,
            now,
        ]
    }
}

const TICKET_COLS: &[&str] = &[
    "external_source",
    "external_id",
    "ticket_number",
    "company_id",
    "subject",
    "description",
    "description_text",
    "status",
    "status_id",
    "status_text",
    "priority",
    "priority_id",
    "ticket_type",
    "source",
    "category",
    "requester_external_id",
    "requester_email",
    "requester_name",
    "contact_id",
    "responder_external_id",
    "agent_id",
    "group_external_id",
    "group_name",
    "department_external_id",
    "created_at",
    "last_updated_at",
    "closed_at",
    "resolved_at",
    "fr_due_by",
    "due_by",
    "first_responded_at",
    "agent_responded_at",
    "minutes_spent",
    "synced_at",
    "row_created_at",
    "row_updated_at",
];

/// Work logged on a ticket, kept compact until the ticket's row id is known.
struct EntryDraft {
    ticket: u32,
    minutes: i64,
    secs_ago: i64,
    billable: bool,
    note: u8,
    agent: u8,
}

/// A reply or private note, kept compact until the ticket's row id is known.
struct ConvDraft {
    ticket: u32,
    kind: u8, // 0 requester reply, 1 agent reply, 2 private note
    text: u8,
    secs_ago: i64,
    agent: u8,
    requester: Option<u32>,
}

struct TicketOut {
    entries: Vec<EntryDraft>,
    convs: Vec<ConvDraft>,
}

const DAY: i64 = 86_400;

impl Plan {
    /// Two years of tickets, oldest first (ids and numbers rise with time), then
    /// their time entries and conversations.
    async fn write_tickets(
        &self,
        w: &mut Writer<'_>,
        company_ids: &[i64],
        contact_ids: &[i64],
        agents: &[(i64, String, String)],
        hosts: &[Vec<String>],
        rep: &mut DemoReport,
    ) -> anyhow::Result<()> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed.wrapping_add(6));
        let now = crate::time::now_db();
        let mut ages: Vec<i64> = (0..self.tickets)
            .map(|_| {
                // More tickets recently: the estate grew over the two years.
                let x: f64 = rng.gen();
                ((1.0 - x.sqrt()) * (730 * DAY) as f64) as i64 + rng.gen_range(0..3_600)
            })
            .collect();
        ages.sort_unstable_by(|a, b| b.cmp(a));
        let companies = WeightedIndex::new(&self.company_weights).expect("positive weights");
        let mut b = Batch::new(w, "tickets", TICKET_COLS);
        let mut out = TicketOut {
            entries: Vec::new(),
            convs: Vec::new(),
        };
        for (i, age) in ages.iter().enumerate() {
            let ci = companies.sample(&mut rng);
            let r = self.ticket_row(
                &mut rng,
                i,
                *age,
                ci,
                company_ids,
                contact_ids,
                agents,
                hosts,
                &now,
                &mut out,
            );
            b.push(w, r).await?;
        }
        rep.tickets = b.finish(w).await?;
        let ids = id_map(
            w,
            "SELECT id, external_id FROM tickets WHERE external_source = 'freshservice'",
        )
        .await?;
        let ticket_id = |i: u32| ids[&ticket_ext_id(i as usize)];
        let mut e = Batch::new(
            w,
            "ticket_time_entries",
            &[
                "ticket_id",
                "external_id",
                "agent_external_id",
                "minutes",
                "billable",
                "note",
                "executed_at",
                "created_at",
                "updated_at",
            ],
        );
        for (n, d) in out.entries.iter().enumerate() {
            let at = self.ts(d.secs_ago);
            e.push(
                w,
                row![
                    ticket_id(d.ticket),
                    format!("{}", 19_020_000_000u64 + n as u64),
                    Some(agents[d.agent as usize].1.clone()),
                    d.minutes,
                    d.billable,
                    Some(NOTES[d.note as usize]),
                    Some(at.clone()),
                    Some(at.clone()),
                    Some(at),
                ],
            )
            .await?;
        }
        rep.time_entries = e.finish(w).await?;
        rep.conversations = self
            .write_conversations(w, &out.convs, &ticket_id, agents)
            .await?;
        Ok(())
    }

    async fn write_conversations(
        &self,
        w: &mut Writer<'_>,
        convs: &[ConvDraft],
        ticket_id: &dyn Fn(u32) -> i64,
        agents: &[(i64, String, String)],
    ) -> anyhow::Result<u64> {
        let mut b = Batch::new(
            w,
            "ticket_conversations",
            &[
                "ticket_id",
                "external_id",
                "kind",
                "body",
                "body_text",
                "author_external_id",
                "author_name",
                "from_email",
                "incoming",
                "created_at",
                "updated_at",
            ],
        );
        for (n, d) in convs.iter().enumerate() {
            let (text, author_id, author, from, incoming) = match (d.kind, d.requester) {
                (0, Some(k)) => {
                    let k_idx = k as usize;
                    let k = &self.contacts[k_idx];
                    (
                        REPLIES[d.text as usize % REPLIES.len()],
                        contact_ext_id(k_idx),
                        format!("{} {}", k.first, k.last),
                        Some(k.email.clone()),
                        true,
                    )
                }
                (2, _) => {
                    let a = &agents[d.agent as usize];
                    (
                        PRIVATE_NOTES[d.text as usize % PRIVATE_NOTES.len()],
                        a.1.clone(),
                        a.2.clone(),
                        None,
                        false,
                    )
                }
                _ => {
                    let a = &agents[d.agent as usize];
                    (
                        REPLIES[d.text as usize % REPLIES.len()],
                        a.1.clone(),
                        a.2.clone(),
                        Some("support@northwind-it.com".to_string()),
                        false,
                    )
                }
            };
            let at = self.ts(d.secs_ago);
            b.push(
                w,
                row![
                    ticket_id(d.ticket),
                    format!("{}", 19_030_000_000u64 + n as u64),
                    if d.kind == 2 { "note" } else { "conversation" },
                    Some(format!("<div>{text}</div>")),
                    Some(text),
                    Some(author_id),
                    Some(author),
                    from,
                    incoming,
                    Some(at.clone()),
                    Some(at),
                ],
            )
            .await?;
        }
        b.finish(w).await
    }

    #[allow(clippy::too_many_arguments)]
    fn ticket_row(
        &self,
        rng: &mut ChaCha8Rng,
        i: usize,
        age: i64,
        ci: usize,
        company_ids: &[i64],
        contact_ids: &[i64],
        agents: &[(i64, String, String)],
        hosts: &[Vec<String>],
        now: &str,
        out: &mut TicketOut,
    ) -> Vec<Val> {
        let c = &self.companies[ci];
        let requester =
            (!c.contacts.is_empty()).then(|| c.contacts[rng.gen_range(0..c.contacts.len())]);
        let (subject_tpl, category) = pick(rng, SUBJECTS);
        let who = requester
            .map(|k| format!("{} {}", self.contacts[k].first, self.contacts[k].last))
            .unwrap_or_else(|| "a new hire".into());
        let host = hosts[ci]
            .get(rng.gen_range(0..hosts[ci].len().max(1)))
            .cloned()
            .unwrap_or_else(|| format!("{}-WS-001", c.short));
        let subject = subject_tpl.replace("{name}", &who).replace("{host}", &host);
        let (prio_id, prio, fr_min, due_min, _) = weighted(
            rng,
            PRIORITIES,
            &PRIORITIES.iter().map(|p| p.4).collect::<Vec<_>>(),
        );
        // Recent tickets may still be open; everything older than three weeks is done.
        let active =
            (age < 3 * DAY && rng.gen_bool(0.25)) || (age < 21 * DAY && rng.gen_bool(0.03));
        let statuses = if active {
            ACTIVE_STATUSES
        } else {
            CLOSED_STATUSES
        };
        let (status_id, status, status_text, _) = weighted(
            rng,
            statuses,
            &statuses.iter().map(|s| s.3).collect::<Vec<_>>(),
        );
        let pro = rng.gen_bool(0.2);
        let group = if pro {
            PRO_SERVICES_GROUP
        } else {
            HELPDESK_GROUP
        };
        let agent = (!active || rng.gen_bool(0.9)).then(|| {
            if pro {
                rng.gen_range(0..5)
            } else {
                rng.gen_range(0..agents.len())
            }
        });
        let responded =
            (!active || rng.gen_bool(0.7)).then(|| rng.gen_range(5 * 60..fr_min * 60 + 1));
        let lifetime = if active {
            rng.gen_range(0..age.max(1))
        } else {
            rng.gen_range(20 * 60..(due_min * 60 * 2).min(age.max(20 * 60 + 1)))
        };
        let updated_age = (age - lifetime).max(0);
        let minutes = self.draw_entries(
            rng,
            i as u32,
            age,
            updated_age,
            active,
            agent,
            agents.len(),
            out,
        );
        self.draw_conversations(
            rng,
            i as u32,
            age,
            updated_age,
            agent.unwrap_or(0),
            requester,
            out,
        );
        let (req_ext, req_email, req_name, req_id) = match requester {
            Some(k) => {
                let d = &self.contacts[k];
                (
                    Some(contact_ext_id(k)),
                    Some(d.email.clone()),
                    Some(format!("{} {}", d.first, d.last)),
                    Some(contact_ids[k]),
                )
            }
            None => (None, None, None, None),
        };
        let description = format!("{subject}. Reported by {who} via the portal.");
        let closed = status == "closed";
        let done = !active;
        row![
            "freshservice",
            ticket_ext_id(i),
            Some(format!("INC-{}", 10_000 + i)),
            Some(company_ids[ci]),
            Some(subject),
            Some(format!("<div>{description}</div>")),
            Some(description),
            Some(status),
            Some(status_id),
            Some(status_text),
            Some(prio),
            Some(prio_id),
            Some(if rng.gen_bool(0.7) {
                "Incident"
            } else {
                "Service Request"
            }),
            Some(pick(rng, &["Email", "Portal", "Phone", "Chat"])),
            Some(category),
            req_ext,
            req_email,
            req_name,
            req_id,
            agent.map(|a| agents[a].1.clone()),
            agent.map(|a| agents[a].0),
            Some(group.0),
            Some(group.1),
            Some(company_ext_id(ci)),
            Some(self.ts(age)),
            Some(self.ts(updated_age)),
            closed.then(|| self.ts(updated_age)),
            done.then(|| self.ts(updated_age)),
            Some(self.ts(age - fr_min * 60)),
            Some(self.ts(age - due_min * 60)),
            responded.map(|r| self.ts((age - r).max(updated_age))),
            responded.map(|r| self.ts((age - r).max(updated_age))),
            minutes,
            Some(self.anchor_db()),
            now,
            now,
        ]
    }

    fn anchor_db(&self) -> String {
        crate::time::to_db(self.anchor)
    }

    /// Time entries of one ticket; returns the minutes in total.
    #[allow(clippy::too_many_arguments)]
    fn draw_entries(
        &self,
        rng: &mut ChaCha8Rng,
        ticket: u32,
        age: i64,
        updated_age: i64,
        active: bool,
        agent: Option<usize>,
        n_agents: usize,
        out: &mut TicketOut,
    ) -> i64 {
        let count = if active {
            weighted(rng, &[0, 1], &[60, 40])
        } else {
            weighted(rng, &[0, 1, 2, 3], &[15, 55, 22, 8])
        };
        let mut total = 0;
        for _ in 0..count {
            let minutes = weighted(
                rng,
                &[15i64, 30, 45, 60, 90, 120, 180],
                &[30, 25, 10, 15, 8, 8, 4],
            );
            total += minutes;
            out.entries.push(EntryDraft {
                ticket,
                minutes,
                secs_ago: rng.gen_range(updated_age..age.max(updated_age + 1)),
                billable: rng.gen_bool(0.9),
                note: rng.gen_range(0..NOTES.len()) as u8,
                agent: agent.unwrap_or_else(|| rng.gen_range(0..n_agents)) as u8,
            });
        }
        total
    }

    #[allow(clippy::too_many_arguments)]
    fn draw_conversations(
        &self,
        rng: &mut ChaCha8Rng,
        ticket: u32,
        age: i64,
        updated_age: i64,
        agent: usize,
        requester: Option<usize>,
        out: &mut TicketOut,
    ) {
        if !rng.gen_bool(0.35) {
            return;
        }
        for n in 0..rng.gen_range(1..=4) {
            let kind = match (n % 2, requester) {
                (0, _) => 1,
                (_, Some(_)) if rng.gen_bool(0.7) => 0,
                _ => 2,
            };
            out.convs.push(ConvDraft {
                ticket,
                kind,
                text: rng.gen_range(0..12),
                secs_ago: rng.gen_range(updated_age..age.max(updated_age + 1)),
                agent: agent as u8,
                requester: requester.map(|k| k as u32),
            });
        }
    }
}

fn ticket_ext_id(i: usize) -> String {
    format!("{}", 100_000 + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> DemoArgs {
        DemoArgs {
            companies: 20,
            contacts: 100,
            assets: 150,
            tickets: 50,
            seed: 7,
        }
    }

    #[test]
    fn drawing_is_deterministic_for_a_seed() {
        let a = Plan::draw(&small());
        let b = Plan::draw(&small());
        let names = |p: &Plan| {
            p.companies
                .iter()
                .map(|c| (c.name.clone(), c.account.clone(), c.domain.clone()))
                .collect::<Vec<_>>()
        };
        let emails = |p: &Plan| {
            p.contacts
                .iter()
                .map(|k| k.email.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&a), names(&b));
        assert_eq!(emails(&a), emails(&b));
        let c = Plan::draw(&DemoArgs { seed: 8, ..small() });
        assert_ne!(names(&a), names(&c), "another seed gives other data");
    }

    #[test]
    fn counts_and_uniqueness_hold() {
        let p = Plan::draw(&small());
        assert_eq!(p.companies.len(), 20);
        assert_eq!(p.contacts.len(), 100);
        assert_eq!(p.companies.iter().map(|c| c.assets).sum::<usize>(), 150);
        assert!(
            p.companies.iter().all(|c| !c.contacts.is_empty()),
            "everyone has a primary contact"
        );
        let accounts: HashSet<_> = p.companies.iter().map(|c| &c.account).collect();
        assert_eq!(accounts.len(), 20);
        assert!(p.companies.iter().all(|c| c.account.len() == 6));
        let emails: HashSet<_> = p.contacts.iter().map(|k| &k.email).collect();
        assert_eq!(emails.len(), 100);
        assert!(p
            .contacts
            .iter()
            .all(|k| k.email.ends_with(&p.companies[k.company].domain)));
        assert!(p
            .companies
            .iter()
            .enumerate()
            .all(|(i, c)| c.parent.is_none_or(|x| x < i)));
    }

    #[test]
    fn batch_sql_numbers_every_placeholder() {
        let b = Batch {
            table: "t",
            cols: &["a", "b"],
            suffix: "ON CONFLICT DO NOTHING",
            per_stmt: 2,
            full_sql: String::new(),
            buf: vec![],
            rows: 0,
            written: 0,
        };
        assert_eq!(
            b.sql(2),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) ON CONFLICT DO NOTHING"
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(short_name("Blue Ridge Dental Care"), "BLUER");
        assert_eq!(short_name("Acme Accounting"), "ACMEA");
        assert_eq!(term_price(4500, 95), 4275);
        assert_eq!(term_price(2500, 85), 2125);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(uuid(&mut rng).len(), 36);
        assert!(crate::validate::phone(&phone(&mut rng)).is_ok());
        let counts = allocate(&mut rng, 10, &[1.0, 1.0, 1.0], 2);
        assert_eq!(counts.iter().sum::<usize>(), 10);
        assert!(counts.iter().all(|c| *c >= 2));
    }
}
