//! Assets: the devices each company owns, with every field the RMM reports (all of its
//! user-defined fields, backup usage) and what technicians add by hand (warranty,
//! assigned contacts). Ledger keys per-asset overrides on the row id, so the RMM sync
//! matches devices on the RMM's own device id and a renamed device keeps its row.

use super::companies::{self, uri_str};
use super::company_scope_sql;
use super::patch::{self, apply_required, apply_text};
use crate::audit::{self, Action, Change};
use crate::auth::Principal;
use crate::db::{like_pattern, Db};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::pagination::{Order, Page};
use crate::http::AppState;
use crate::validate;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{patch as patch_route, put};
use axum::Json;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, HashMap, HashSet};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The original's terabyte (a tebibyte): backup usage in TB = bytes ÷ 1024⁴.
pub const BYTES_PER_TB: i64 = 1_099_511_627_776;
/// Datto's current spec numbers UDFs up to 300; the seeds' udf1..udf30 are a floor.
pub const MAX_UDF: u16 = 300;
const MAX_UDF_LEN: usize = 10_000;
/// Contacts per asset: bounds every read of the link table.
const MAX_CONTACTS: usize = 500;

// ---------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------

/// The RMM's user-defined fields by number, non-empty values only. Serialised as
/// `{"udf1": "…", "udf2": "…"}` in numeric (not text) order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Udfs(pub BTreeMap<u16, String>);

impl Udfs {
    /// Reads the stored JSON object; keys that are not `udfN` are ignored.
    fn from_json(s: &str) -> Udfs {
        let raw: BTreeMap<String, String> = serde_json::from_str(s).unwrap_or_default();
        Udfs(
            raw.into_iter()
                .filter(|(_, v)| !v.is_empty())
                .filter_map(|(k, v)| Some((udf_number(&k)?, v)))
                .collect(),
        )
    }

    fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    pub fn get(&self, n: u16) -> Option<&str> {
        self.0.get(&n).map(String::as_str)
    }
}

impl Serialize for Udfs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (n, v) in &self.0 {
            m.serialize_entry(&format!("udf{n}"), v)?;
        }
        m.end()
    }
}

/// `udf7` → 7. Only `udf1`..`udf300`, no leading zeros (so one field has one name).
pub fn udf_number(key: &str) -> Option<u16> {
    let digits = key.strip_prefix("udf")?;
    if digits.is_empty()
        || digits.len() > 3
        || digits.starts_with('0')
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let n: u16 = digits.parse().ok()?;
    (1..=MAX_UDF).contains(&n).then_some(n)
}

/// Bytes as the original's TB string: bytes ÷ 1024⁴, two decimals, ties to even (what
/// Python's `'%.2f'` does with the exact quotient, which is always a dyadic fraction).
pub fn backup_tb(bytes: i64) -> String {
    let tb = Decimal::from(bytes) / Decimal::from(BYTES_PER_TB);
    format!(
        "{:.2}",
        tb.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven)
    )
}

/// Backup usage as Datto's UDF6 carries it (bytes, sometimes written as a decimal).
pub fn parse_backup_bytes(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    raw.parse::<i64>()
        .ok()
        .or_else(|| {
            raw.parse::<Decimal>()
                .ok()
                .and_then(|d| d.trunc().try_into().ok())
        })
        .filter(|b| *b >= 0)
}

/// An asset as every API shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Asset {
    pub id: i64,
    pub company_id: i64,
    pub company_account_number: String,
    pub company_name: String,
    pub hostname: String,
    /// The system the asset came from (`datto`, `superops`); none for manual assets.
    pub external_source: Option<String>,
    /// The source's own device id; the sync matches on it, so renames keep the row.
    pub external_id: Option<String>,
    pub description: Option<String>,
    pub hardware_type: Option<String>,
    pub device_type: Option<String>,
    pub operating_system: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub serial_number: Option<String>,
    pub last_logged_in_user: Option<String>,
    pub rmm_site_uid: Option<String>,
    pub rmm_site_name: Option<String>,
    pub antivirus_product: Option<String>,
    pub antivirus_status: Option<String>,
    pub ext_ip_address: Option<String>,
    pub int_ip_address: Option<String>,
    pub domain: Option<String>,
    pub last_audit_date: Option<String>,
    pub last_reboot: Option<String>,
    pub last_seen: Option<String>,
    pub online: bool,
    pub patch_status: Option<String>,
    /// Backup usage in bytes as stored (Datto UDF6).
    pub backup_usage_bytes: Option<i64>,
    /// The same in TB (1024⁴ bytes) with two decimals, as the original showed it.
    pub backup_usage_tb: Option<String>,
    /// The bytes again, 0 when unknown (the original's field for Ledger).
    pub backup_data_bytes: i64,
    pub enabled_administrators: Option<String>,
    /// YYYY-MM-DD
    pub warranty_expires: Option<String>,
    pub portal_url: Option<String>,
    pub web_remote_url: Option<String>,
    /// Every non-empty RMM user-defined field, `{"udf1": "…"}`.
    #[schema(value_type = BTreeMap<String, String>)]
    pub udfs: Udfs,
    /// Contacts assigned to the asset.
    pub contact_ids: Vec<i64>,
    pub created_at: String,
    pub updated_at: String,
    pub deleted_at: Option<String>,
}

impl Asset {
    /// Recomputes the figures derived from `backup_usage_bytes`.
    fn derive(&mut self) {
        self.backup_usage_tb = self.backup_usage_bytes.map(backup_tb);
        self.backup_data_bytes = self.backup_usage_bytes.unwrap_or(0);
    }
}

/// The writable columns, in bind order for INSERT and UPDATE.
const WRITABLE: &[&str] = &[
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
    "deleted_at",
];

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind_writable<'q>(q: AnyQuery<'q>, a: &'q Asset) -> AnyQuery<'q> {
    q.bind(a.company_id)
        .bind(&a.hostname)
        .bind(&a.external_source)
        .bind(&a.external_id)
        .bind(&a.description)
        .bind(&a.hardware_type)
        .bind(&a.device_type)
        .bind(&a.operating_system)
        .bind(&a.manufacturer)
        .bind(&a.model)
        .bind(&a.serial_number)
        .bind(&a.last_logged_in_user)
        .bind(&a.rmm_site_uid)
        .bind(&a.rmm_site_name)
        .bind(&a.antivirus_product)
        .bind(&a.antivirus_status)
        .bind(&a.ext_ip_address)
        .bind(&a.int_ip_address)
        .bind(&a.domain)
        .bind(&a.last_audit_date)
        .bind(&a.last_reboot)
        .bind(&a.last_seen)
        .bind(a.online as i64)
        .bind(&a.patch_status)
        .bind(a.backup_usage_bytes)
        .bind(&a.enabled_administrators)
        .bind(&a.warranty_expires)
        .bind(&a.portal_url)
        .bind(&a.web_remote_url)
        .bind(a.udfs.to_json())
        .bind(&a.deleted_at)
}

const SELECT: &str = "SELECT a.*, c.account_number AS company_account_number, \
    c.name AS company_name FROM assets a JOIN companies c ON c.id = a.company_id";

fn from_row(r: &AnyRow) -> Result<Asset, sqlx::Error> {
    let udfs: String = r.try_get("udfs")?;
    let mut a = Asset {
        id: r.try_get("id")?,
        company_id: r.try_get("company_id")?,
        company_account_number: r.try_get("company_account_number")?,
        company_name: r.try_get("company_name")?,
        hostname: r.try_get("hostname")?,
        external_source: r.try_get("external_source")?,
        external_id: r.try_get("external_id")?,
        description: r.try_get("description")?,
        hardware_type: r.try_get("hardware_type")?,
        device_type: r.try_get("device_type")?,
        operating_system: r.try_get("operating_system")?,
        manufacturer: r.try_get("manufacturer")?,
        model: r.try_get("model")?,
        serial_number: r.try_get("serial_number")?,
        last_logged_in_user: r.try_get("last_logged_in_user")?,
        rmm_site_uid: r.try_get("rmm_site_uid")?,
        rmm_site_name: r.try_get("rmm_site_name")?,
        antivirus_product: r.try_get("antivirus_product")?,
        antivirus_status: r.try_get("antivirus_status")?,
        ext_ip_address: r.try_get("ext_ip_address")?,
        int_ip_address: r.try_get("int_ip_address")?,
        domain: r.try_get("domain")?,
        last_audit_date: r.try_get("last_audit_date")?,
        last_reboot: r.try_get("last_reboot")?,
        last_seen: r.try_get("last_seen")?,
        online: crate::db::flag(r, "online")?,
        patch_status: r.try_get("patch_status")?,
        backup_usage_bytes: r.try_get("backup_usage_bytes")?,
        backup_usage_tb: None,
        backup_data_bytes: 0,
        enabled_administrators: r.try_get("enabled_administrators")?,
        warranty_expires: r.try_get("warranty_expires")?,
        portal_url: r.try_get("portal_url")?,
        web_remote_url: r.try_get("web_remote_url")?,
        udfs: Udfs::from_json(&udfs),
        contact_ids: vec![],
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        deleted_at: r.try_get("deleted_at")?,
    };
    a.derive();
    Ok(a)
}

// ---------------------------------------------------------------------------
// Store: reads
// ---------------------------------------------------------------------------

/// Integers as a SQL list. Only for ids read from the database or typed as i64, never
/// for user text, so inlining is safe (and avoids per-backend bind limits).
fn id_list(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

/// Fills `contact_ids` from `sql`, which selects `(asset_id, contact_id)` pairs.
async fn fill_contacts(conn: &mut AnyConnection, assets: &mut [Asset], sql: &str) -> AppResult<()> {
    if assets.is_empty() {
        return Ok(());
    }
    let mut by_asset: HashMap<i64, Vec<i64>> = HashMap::new();
    for r in sqlx::query(sql).fetch_all(&mut *conn).await? {
        by_asset
            .entry(r.try_get(0)?)
            .or_default()
            .push(r.try_get(1)?);
    }
    for a in assets.iter_mut() {
        a.contact_ids = by_asset.remove(&a.id).unwrap_or_default();
    }
    Ok(())
}

async fn fill_contacts_by_id(conn: &mut AnyConnection, assets: &mut [Asset]) -> AppResult<()> {
    let ids: Vec<i64> = assets.iter().map(|a| a.id).collect();
    let sql = format!(
        "SELECT asset_id, contact_id FROM asset_contacts WHERE asset_id IN ({}) \
         ORDER BY asset_id, contact_id",
        id_list(&ids)
    );
    fill_contacts(conn, assets, &sql).await
}

async fn load(conn: &mut AnyConnection, id: i64) -> AppResult<Option<Asset>> {
    let row = sqlx::query(&format!("{SELECT} WHERE a.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let mut one = [from_row(&row)?];
    fill_contacts_by_id(conn, &mut one).await?;
    let [a] = one;
    Ok(Some(a))
}

/// One asset by id, deleted ones included (callers decide).
pub async fn get(db: &Db, id: i64) -> AppResult<Option<Asset>> {
    let mut conn = db.pool.acquire().await?;
    load(&mut conn, id).await
}

/// The asset a caller may see, or 404 (also outside a client's company, so its
/// existence is not revealed).
pub async fn visible(db: &Db, who: &Principal, id: i64) -> AppResult<Asset> {
    match get(db, id).await? {
        Some(a) if who.may_see_company(a.company_id) => Ok(a),
        _ => Err(AppError::not_found(format!("asset {id} not found"))),
    }
}

/// Every live asset of the given companies, ordered by company then hostname, in a
/// fixed number of queries whatever the count (for `/companies/bulk`).
pub async fn list_for_companies(db: &Db, company_ids: &[i64]) -> AppResult<Vec<Asset>> {
    if company_ids.is_empty() {
        return Ok(vec![]);
    }
    let ids = id_list(company_ids);
    let mut conn = db.pool.acquire().await?;
    let sql = format!(
        "{SELECT} WHERE a.company_id IN ({ids}) AND a.deleted_at IS NULL \
         ORDER BY a.company_id, lower(a.hostname), a.id"
    );
    let rows = sqlx::query(&sql).fetch_all(&mut *conn).await?;
    let mut list = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    let contacts = format!(
        "SELECT ac.asset_id, ac.contact_id FROM asset_contacts ac \
         JOIN assets a ON a.id = ac.asset_id WHERE a.company_id IN ({ids}) \
         ORDER BY ac.asset_id, ac.contact_id"
    );
    fill_contacts(&mut conn, &mut list, &contacts).await?;
    Ok(list)
}

/// The fields billing reads of a live asset.
#[derive(Debug, Clone, PartialEq)]
pub struct BillingDevice {
    pub id: i64,
    pub company_id: i64,
    pub hostname: String,
    pub hardware_type: Option<String>,
    pub device_type: Option<String>,
    pub operating_system: Option<String>,
    pub backup_usage_bytes: Option<i64>,
}

/// Every live asset of the given companies with only the billing fields, in one query
/// (for Ledger: the full `Asset` with UDFs and contacts is far heavier to read).
pub async fn billing_devices(db: &Db, company_ids: &[i64]) -> AppResult<Vec<BillingDevice>> {
    if company_ids.is_empty() {
        return Ok(vec![]);
    }
    let sql = format!(
        "SELECT id, company_id, hostname, hardware_type, device_type, operating_system, \
         backup_usage_bytes FROM assets WHERE company_id IN ({}) AND deleted_at IS NULL \
         ORDER BY company_id, lower(hostname), id",
        id_list(company_ids)
    );
    let rows = sqlx::query(&sql).fetch_all(&db.pool).await?;
    rows.iter()
        .map(|r| {
            Ok(BillingDevice {
                id: r.try_get(0)?,
                company_id: r.try_get(1)?,
                hostname: r.try_get(2)?,
                hardware_type: r.try_get(3)?,
                device_type: r.try_get(4)?,
                operating_system: r.try_get(5)?,
                backup_usage_bytes: r.try_get(6)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Live assets per company for the given companies, in one grouped query (list pages).
pub async fn count_by_company(db: &Db, company_ids: &[i64]) -> AppResult<HashMap<i64, i64>> {
    if company_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT company_id, COUNT(*) FROM assets WHERE company_id IN ({}) \
         AND deleted_at IS NULL GROUP BY company_id",
        super::ids_sql(company_ids)
    );
    super::counts_by_company(db, &sql).await
}

/// The label of an RMM user-defined field as the original's asset page showed it
/// (Datto's UDFs as this MSP uses them); `UDFn` for the others.
pub fn udf_label(n: u16) -> String {
    match n {
        1 => "Entra ID Tenant".into(),
        2 => "BitLocker Key".into(),
        3 => "Disk Information".into(),
        4 => "Enabled Administrators".into(),
        5 => "Windows 11".into(),
        6 => "Backup Usage (TB)".into(),
        7 => "Device Type".into(),
        9 => "Windows Key".into(),
        n => format!("UDF{n}"),
    }
}

/// Query for asset lists.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssetQuery {
    /// Matches hostname, description, RMM site, serial number, IP addresses and company
    /// name (case-insensitive).
    pub search: Option<String>,
    /// Account number of the owning company.
    pub company: Option<String>,
    /// Exact, case-insensitive (Desktop, Laptop, Server, …).
    pub hardware_type: Option<String>,
    /// Exact, case-insensitive.
    pub device_type: Option<String>,
    pub online: Option<bool>,
    /// Substring, case-insensitive.
    pub operating_system: Option<String>,
    /// Include assets marked deleted (by hand or gone from the RMM).
    pub include_deleted: Option<bool>,
    /// hostname (default), hardware_type, operating_system, online, last_seen, company
    pub sort: Option<String>,
    pub order: Option<Order>,
    /// 1..=1000, default 100.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Sort keys → SQL. Text is lower-cased and NULL made '' so both backends order alike.
const SORTS: &[(&str, &str)] = &[
    ("hostname", "lower(a.hostname)"),
    ("hardware_type", "COALESCE(lower(a.hardware_type), '')"),
    (
        "operating_system",
        "COALESCE(lower(a.operating_system), '')",
    ),
    ("online", "a.online"),
    ("last_seen", "COALESCE(a.last_seen, '')"),
    ("company", "lower(c.name)"),
];

fn sort_sql(sort: Option<&str>) -> AppResult<&'static str> {
    let key = sort.unwrap_or("hostname");
    SORTS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, sql)| *sql)
        .ok_or_else(|| {
            let keys: Vec<_> = SORTS.iter().map(|(k, _)| *k).collect();
            AppError::invalid("sort", format!("must be one of: {}", keys.join(", ")))
        })
}

fn non_blank(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Binds `$1..$7` of the list filter.
fn bind_filter<'q>(
    sql: &'q str,
    q: &AssetQuery,
    search: &Option<String>,
    os: &Option<String>,
) -> AnyQuery<'q> {
    sqlx::query(sql)
        .bind(q.include_deleted.unwrap_or(false) as i64)
        .bind(search.clone())
        .bind(non_blank(&q.company))
        .bind(non_blank(&q.hardware_type))
        .bind(non_blank(&q.device_type))
        .bind(q.online.map(i64::from))
        .bind(os.clone())
}

/// One page of assets matching `q`, and the total count.
pub async fn list(
    db: &Db,
    scope: Option<i64>,
    q: &AssetQuery,
    page: Page,
) -> AppResult<(Vec<Asset>, i64)> {
    let sort = sort_sql(q.sort.as_deref())?;
    let ilike = db.ilike();
    let like = |col: &str| format!("{col} {ilike} $2 ESCAPE '\\'");
    let search_cols = [
        "a.hostname",
        "a.description",
        "a.rmm_site_name",
        "a.serial_number",
        "a.ext_ip_address",
        "a.int_ip_address",
        "c.name",
    ];
    let searches: Vec<String> = search_cols.iter().map(|c| like(c)).collect();
    let filter = format!(
        "WHERE ($1 = 1 OR a.deleted_at IS NULL) {scope} \
         AND ($2 IS NULL OR {search}) \
         AND ($3 IS NULL OR c.account_number = $3) \
         AND ($4 IS NULL OR lower(a.hardware_type) = lower($4)) \
         AND ($5 IS NULL OR lower(a.device_type) = lower($5)) \
         AND ($6 IS NULL OR a.online = $6) \
         AND ($7 IS NULL OR a.operating_system {ilike} $7 ESCAPE '\\')",
        scope = company_scope_sql("a.company_id", scope),
        search = searches.join(" OR "),
    );
    let search = non_blank(&q.search).map(|s| like_pattern(&s));
    let os = non_blank(&q.operating_system).map(|s| like_pattern(&s));
    let bind = |sql| bind_filter(sql, q, &search, &os);
    let mut conn = db.pool.acquire().await?;
    let count_sql =
        format!("SELECT COUNT(*) FROM assets a JOIN companies c ON c.id = a.company_id {filter}");
    let total: i64 = bind(&count_sql).fetch_one(&mut *conn).await?.try_get(0)?;
    let order = q.order.unwrap_or_default().sql();
    let sql = format!("{SELECT} {filter} ORDER BY {sort} {order}, a.id {order} LIMIT $8 OFFSET $9");
    let rows = bind(&sql)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&mut *conn)
        .await?;
    let mut list = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    fill_contacts_by_id(&mut conn, &mut list).await?;
    Ok((list, total))
}

// ---------------------------------------------------------------------------
// Store: writes
// ---------------------------------------------------------------------------

/// Writes `a` (insert when `before` is `None`), optionally replaces its contacts, and
/// records the change, all in one transaction. Returns the asset as stored.
async fn save(
    db: &Db,
    who: Option<&Principal>,
    before: Option<&Asset>,
    a: &Asset,
    contacts: Option<&[i64]>,
    audited: bool,
) -> AppResult<Asset> {
    let mut tx = db.pool.begin().await?;
    let after = save_in(&mut tx, who, before, a, contacts, audited).await?;
    tx.commit().await?;
    Ok(after)
}

/// `save` inside the caller's transaction.
async fn save_in(
    conn: &mut AnyConnection,
    who: Option<&Principal>,
    before: Option<&Asset>,
    a: &Asset,
    contacts: Option<&[i64]>,
    audited: bool,
) -> AppResult<Asset> {
    let now = crate::time::now_db();
    let n = WRITABLE.len();
    let id = match before {
        None => {
            let params: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
            let sql = format!(
                "INSERT INTO assets ({}, created_at, updated_at) VALUES ({}, ${}, ${}) RETURNING id",
                WRITABLE.join(", "),
                params.join(", "),
                n + 1,
                n + 1
            );
            bind_writable(sqlx::query(&sql), a)
                .bind(&now)
                .fetch_one(&mut *conn)
                .await?
                .try_get(0)?
        }
        Some(b) => {
            let sets: Vec<String> = WRITABLE
                .iter()
                .enumerate()
                .map(|(i, col)| format!("{col} = ${}", i + 1))
                .collect();
            let sql = format!(
                "UPDATE assets SET {}, updated_at = ${} WHERE id = ${}",
                sets.join(", "),
                n + 1,
                n + 2
            );
            bind_writable(sqlx::query(&sql), a)
                .bind(&now)
                .bind(b.id)
                .execute(&mut *conn)
                .await?;
            b.id
        }
    };
    if let Some(ids) = contacts {
        replace_contacts(conn, id, ids).await?;
    }
    let after = load(conn, id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("asset {id} vanished")))?;
    if audited {
        let action = match (before, &after.deleted_at) {
            (None, _) => Action::Create,
            (Some(b), Some(_)) if b.deleted_at.is_none() => Action::Delete,
            _ => Action::Update,
        };
        audit::record(conn, who, change(action, before, &after)?).await?;
    }
    Ok(after)
}

fn change<'a>(action: Action, before: Option<&Asset>, after: &Asset) -> AppResult<Change<'a>> {
    let json = |a: &Asset| serde_json::to_value(a).map_err(anyhow::Error::from);
    Ok(Change {
        module: "codex",
        action,
        entity: "asset",
        entity_id: after.id.to_string(),
        before: before.map(json).transpose()?,
        after: Some(json(after)?),
    })
}

async fn replace_contacts(conn: &mut AnyConnection, asset_id: i64, ids: &[i64]) -> AppResult<()> {
    sqlx::query("DELETE FROM asset_contacts WHERE asset_id = $1")
        .bind(asset_id)
        .execute(&mut *conn)
        .await?;
    for id in ids {
        sqlx::query("INSERT INTO asset_contacts (asset_id, contact_id) VALUES ($1, $2)")
            .bind(asset_id)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Sorted, de-duplicated contact ids that all exist (and are not deleted).
async fn check_contacts(db: &Db, ids: &[i64]) -> AppResult<Result<Vec<i64>, String>> {
    let mut ids: Vec<i64> = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() > MAX_CONTACTS {
        return Ok(Err(format!("at most {MAX_CONTACTS} contacts")));
    }
    if ids.is_empty() {
        return Ok(Ok(ids));
    }
    let sql = format!(
        "SELECT id FROM contacts WHERE id IN ({}) AND deleted_at IS NULL",
        id_list(&ids)
    );
    let found: HashSet<i64> = sqlx::query(&sql)
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let unknown: Vec<String> = ids
        .iter()
        .filter(|id| !found.contains(id))
        .map(i64::to_string)
        .collect();
    if unknown.is_empty() {
        Ok(Ok(ids))
    } else {
        Ok(Err(format!("unknown contact ids: {}", unknown.join(", "))))
    }
}

// ---------------------------------------------------------------------------
// Rules: what a client may send
// ---------------------------------------------------------------------------

/// Fields a client may send to create or update an asset. Absent fields stay as they
/// are; `null` or `""` clears a field.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssetInput {
    /// The owning company; required on create, moves the asset on update.
    pub company_account_number: Option<String>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub hostname: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub external_source: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub external_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub hardware_type: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub device_type: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub operating_system: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub manufacturer: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub model: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub serial_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub last_logged_in_user: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub rmm_site_uid: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub rmm_site_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub antivirus_product: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub antivirus_status: Option<Option<String>>,
    /// IPv4 or IPv6 address.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub ext_ip_address: Option<Option<String>>,
    /// IPv4 or IPv6 address.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub int_ip_address: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub domain: Option<Option<String>>,
    /// RFC 3339 timestamp.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub last_audit_date: Option<Option<String>>,
    /// RFC 3339 timestamp.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub last_reboot: Option<Option<String>>,
    /// RFC 3339 timestamp.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub last_seen: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<bool>)]
    pub online: Option<Option<bool>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub patch_status: Option<Option<String>>,
    /// Bytes, ≥ 0.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<i64>)]
    pub backup_usage_bytes: Option<Option<i64>>,
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub enabled_administrators: Option<Option<String>>,
    /// YYYY-MM-DD
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub warranty_expires: Option<Option<String>>,
    /// http(s) URL.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub portal_url: Option<Option<String>>,
    /// http(s) URL.
    #[serde(default, deserialize_with = "patch::field")]
    #[schema(value_type = Option<String>)]
    pub web_remote_url: Option<Option<String>>,
    /// `{"udf1": "…", …}` merged into the stored fields; a `null` or `""` value removes
    /// that key. Keys `udf1`..`udf300`, values up to 10 000 characters.
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<String, Option<String>>>)]
    pub udfs: Option<BTreeMap<String, Option<String>>>,
    /// Replaces the set of assigned contacts.
    #[serde(default)]
    pub contact_ids: Option<Vec<i64>>,
}

/// How a text field is checked.
#[derive(Clone, Copy)]
enum Check {
    Text(usize),
    Ip,
    Url,
    Date,
    Time,
}

impl Check {
    fn run(self, s: &str) -> Result<String, String> {
        match self {
            Check::Text(max) => validate::text(s, max),
            Check::Ip => validate::ip(s),
            Check::Url => validate::url(s),
            Check::Date => validate::date(s),
            Check::Time => validate::timestamp(s),
        }
    }
}

/// Applies `input` to `a`, collecting every field error; returns the contact set to
/// write, if the input replaces it.
async fn apply(
    db: &Db,
    a: &mut Asset,
    input: &AssetInput,
    creating: bool,
) -> AppResult<Option<Vec<i64>>> {
    let mut e = FieldErrors::new();
    if creating && input.hostname.is_none() {
        e.insert("hostname".into(), "is required".into());
    }
    apply_required(
        &mut e,
        "hostname",
        &mut a.hostname,
        &input.hostname,
        patch::required(150),
    );
    apply_texts(&mut e, a, input);
    if let Some(v) = input.online {
        a.online = v.unwrap_or(false);
    }
    match input.backup_usage_bytes {
        Some(Some(b)) if b < 0 => {
            e.insert("backup_usage_bytes".into(), "must be 0 or more".into());
        }
        Some(b) => a.backup_usage_bytes = b,
        None => {}
    }
    if let Some(patch) = &input.udfs {
        if let Err(m) = merge_udfs(&mut a.udfs, patch) {
            e.insert("udfs".into(), m);
        }
    }
    apply_company(
        db,
        &mut e,
        a,
        input.company_account_number.as_deref(),
        creating,
    )
    .await?;
    let contacts = match &input.contact_ids {
        None => None,
        Some(ids) => match check_contacts(db, ids).await? {
            Ok(ids) => Some(ids),
            Err(m) => {
                e.insert("contact_ids".into(), m);
                None
            }
        },
    };
    if !e.is_empty() {
        return Err(AppError::Validation(e));
    }
    a.derive();
    Ok(contacts)
}

/// (name, stored value, patch, check) for one text column.
type TextField<'a> = (
    &'a str,
    &'a mut Option<String>,
    &'a Option<Option<String>>,
    Check,
);

fn apply_texts(e: &mut FieldErrors, a: &mut Asset, i: &AssetInput) {
    use Check::*;
    let fields: [TextField; 25] = [
        (
            "external_source",
            &mut a.external_source,
            &i.external_source,
            Text(50),
        ),
        ("external_id", &mut a.external_id, &i.external_id, Text(100)),
        (
            "description",
            &mut a.description,
            &i.description,
            Text(10_000),
        ),
        (
            "hardware_type",
            &mut a.hardware_type,
            &i.hardware_type,
            Text(100),
        ),
        ("device_type", &mut a.device_type, &i.device_type, Text(50)),
        (
            "operating_system",
            &mut a.operating_system,
            &i.operating_system,
            Text(100),
        ),
        (
            "manufacturer",
            &mut a.manufacturer,
            &i.manufacturer,
            Text(100),
        ),
        ("model", &mut a.model, &i.model, Text(100)),
        (
            "serial_number",
            &mut a.serial_number,
            &i.serial_number,
            Text(100),
        ),
        (
            "last_logged_in_user",
            &mut a.last_logged_in_user,
            &i.last_logged_in_user,
            Text(150),
        ),
        (
            "rmm_site_uid",
            &mut a.rmm_site_uid,
            &i.rmm_site_uid,
            Text(100),
        ),
        (
            "rmm_site_name",
            &mut a.rmm_site_name,
            &i.rmm_site_name,
            Text(150),
        ),
        (
            "antivirus_product",
            &mut a.antivirus_product,
            &i.antivirus_product,
            Text(100),
        ),
        (
            "antivirus_status",
            &mut a.antivirus_status,
            &i.antivirus_status,
            Text(50),
        ),
        (
            "ext_ip_address",
            &mut a.ext_ip_address,
            &i.ext_ip_address,
            Ip,
        ),
        (
            "int_ip_address",
            &mut a.int_ip_address,
            &i.int_ip_address,
            Ip,
        ),
        ("domain", &mut a.domain, &i.domain, Text(100)),
        (
            "last_audit_date",
            &mut a.last_audit_date,
            &i.last_audit_date,
            Time,
        ),
        ("last_reboot", &mut a.last_reboot, &i.last_reboot, Time),
        ("last_seen", &mut a.last_seen, &i.last_seen, Time),
        (
            "patch_status",
            &mut a.patch_status,
            &i.patch_status,
            Text(50),
        ),
        (
            "enabled_administrators",
            &mut a.enabled_administrators,
            &i.enabled_administrators,
            Text(10_000),
        ),
        (
            "warranty_expires",
            &mut a.warranty_expires,
            &i.warranty_expires,
            Date,
        ),
        ("portal_url", &mut a.portal_url, &i.portal_url, Url),
        (
            "web_remote_url",
            &mut a.web_remote_url,
            &i.web_remote_url,
            Url,
        ),
    ];
    for (name, target, patch, check) in fields {
        apply_text(e, name, target, patch, move |s| check.run(s));
    }
}

/// Merges a UDF patch: a value sets the key, `null`/`""` removes it.
fn merge_udfs(udfs: &mut Udfs, patch: &BTreeMap<String, Option<String>>) -> Result<(), String> {
    let mut bad = Vec::new();
    let mut merged = udfs.clone();
    for (key, value) in patch {
        let Some(n) = udf_number(key) else {
            bad.push(format!("'{key}' is not udf1..udf{MAX_UDF}"));
            continue;
        };
        match value.as_deref().map(str::trim) {
            None | Some("") => {
                merged.0.remove(&n);
            }
            Some(v) if v.chars().count() > MAX_UDF_LEN => {
                bad.push(format!("{key} must be at most {MAX_UDF_LEN} characters"));
            }
            Some(v) => {
                merged.0.insert(n, v.to_string());
            }
        }
    }
    if bad.is_empty() {
        *udfs = merged;
        Ok(())
    } else {
        Err(bad.join("; "))
    }
}

async fn apply_company(
    db: &Db,
    e: &mut FieldErrors,
    a: &mut Asset,
    account_number: Option<&str>,
    creating: bool,
) -> AppResult<()> {
    let field = "company_account_number";
    match account_number.map(str::trim) {
        None | Some("") if creating => {
            e.insert(field.into(), "is required".into());
        }
        None => {}
        Some(acct) => match companies::find(db, acct).await? {
            Some(c) if c.deleted_at.is_none() => {
                a.company_id = c.id;
                a.company_account_number = c.account_number;
                a.company_name = c.name;
            }
            _ => {
                e.insert(
                    field.into(),
                    format!("no company with account number {acct}"),
                );
            }
        },
    }
    Ok(())
}

pub async fn create(db: &Db, who: &Principal, input: &AssetInput) -> AppResult<Asset> {
    let mut a = Asset::default();
    let contacts = apply(db, &mut a, input, true).await?;
    save(
        db,
        Some(who),
        None,
        &a,
        Some(&contacts.unwrap_or_default()),
        true,
    )
    .await
}

pub async fn update(db: &Db, who: &Principal, id: i64, input: &AssetInput) -> AppResult<Asset> {
    let before = visible(db, who, id).await?;
    let mut a = before.clone();
    let contacts = apply(db, &mut a, input, false).await?;
    save(db, Some(who), Some(&before), &a, contacts.as_deref(), true).await
}

/// Replaces the contacts assigned to an asset (unknown ids are a 422).
pub async fn set_contacts(db: &Db, who: &Principal, id: i64, ids: &[i64]) -> AppResult<Asset> {
    let before = visible(db, who, id).await?;
    let ids = check_contacts(db, ids)
        .await?
        .map_err(|m| AppError::invalid("contact_ids", m))?;
    save(db, Some(who), Some(&before), &before, Some(&ids), true).await
}

/// Marks an asset deleted. The row stays (billing overrides are keyed on its id).
pub async fn soft_delete(db: &Db, who: &Principal, id: i64) -> AppResult<()> {
    let before = visible(db, who, id).await?;
    if before.deleted_at.is_some() {
        return Ok(());
    }
    let mut a = before.clone();
    a.deleted_at = Some(crate::time::now_db());
    save(db, Some(who), Some(&before), &a, None, true).await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Sync: upserts keyed on the source's device id
// ---------------------------------------------------------------------------

/// One device as a source (the RMM sync) reports it. The sync is the truth for these
/// fields: `None` clears a field, except the hardware details (`manufacturer`, `model`,
/// `serial_number`, `warranty_expires`), which most device lists do not carry, where
/// `None` keeps what is stored (a technician may have typed them in).
#[derive(Debug, Clone, Default)]
pub struct AssetUpsert {
    pub company_id: i64,
    /// `datto`, `superops`, …
    pub external_source: String,
    /// The source's device uid; `None` matches on (company, hostname) instead.
    pub external_id: Option<String>,
    pub hostname: String,
    pub description: Option<String>,
    pub hardware_type: Option<String>,
    pub device_type: Option<String>,
    pub operating_system: Option<String>,
    pub last_logged_in_user: Option<String>,
    pub rmm_site_uid: Option<String>,
    pub rmm_site_name: Option<String>,
    pub antivirus_product: Option<String>,
    pub antivirus_status: Option<String>,
    pub ext_ip_address: Option<String>,
    pub int_ip_address: Option<String>,
    pub domain: Option<String>,
    /// Any RFC 3339 timestamp (or date); stored normalised to UTC, dropped if unparsable.
    pub last_audit_date: Option<String>,
    pub last_reboot: Option<String>,
    pub last_seen: Option<String>,
    pub online: bool,
    pub patch_status: Option<String>,
    pub backup_usage_bytes: Option<i64>,
    pub enabled_administrators: Option<String>,
    /// Non-http(s) links are dropped (they would run script in a browser).
    pub portal_url: Option<String>,
    pub web_remote_url: Option<String>,
    /// Every `udfN` the device carries (`"udf1"` → value); replaces the stored set.
    /// Keys outside udf1..udf300 and empty values are ignored.
    pub udfs: BTreeMap<String, String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub serial_number: Option<String>,
    /// YYYY-MM-DD
    pub warranty_expires: Option<String>,
}

/// Vendor text, cleaned rather than rejected: one odd field must not fail a sync.
fn clean(v: &Option<String>, max: usize) -> Option<String> {
    let s: String = v
        .as_deref()?
        .trim()
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        .take(max)
        .collect();
    (!s.is_empty()).then_some(s)
}

fn clean_with(v: &Option<String>, check: Check) -> Option<String> {
    v.as_deref().and_then(|s| check.run(s).ok())
}

/// Finds the row a source record belongs to: by external id, else (for assets not yet
/// linked to the source) by company and hostname.
async fn find_for_upsert(db: &Db, u: &AssetUpsert, hostname: &str) -> AppResult<Option<i64>> {
    if let Some(ext) = clean(&u.external_id, 100) {
        let row =
            sqlx::query("SELECT id FROM assets WHERE external_source = $1 AND external_id = $2")
                .bind(&u.external_source)
                .bind(&ext)
                .fetch_optional(&db.pool)
                .await?;
        if let Some(r) = row {
            return Ok(Some(r.try_get(0)?));
        }
    }
    let row = sqlx::query(
        "SELECT id FROM assets WHERE company_id = $1 AND lower(hostname) = lower($2) \
         AND external_id IS NULL ORDER BY deleted_at IS NOT NULL, id LIMIT 1",
    )
    .bind(u.company_id)
    .bind(hostname)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

fn merge_upsert(a: &mut Asset, u: &AssetUpsert, hostname: String) {
    use Check::{Date, Time, Url};
    a.company_id = u.company_id;
    a.hostname = hostname;
    a.external_source = clean(&Some(u.external_source.clone()), 50);
    if u.external_id.is_some() {
        a.external_id = clean(&u.external_id, 100);
    }
    a.description = clean(&u.description, 10_000);
    a.hardware_type = clean(&u.hardware_type, 100);
    a.device_type = clean(&u.device_type, 50);
    a.operating_system = clean(&u.operating_system, 100);
    a.last_logged_in_user = clean(&u.last_logged_in_user, 150);
    a.rmm_site_uid = clean(&u.rmm_site_uid, 100);
    a.rmm_site_name = clean(&u.rmm_site_name, 150);
    a.antivirus_product = clean(&u.antivirus_product, 100);
    a.antivirus_status = clean(&u.antivirus_status, 50);
    a.ext_ip_address = clean(&u.ext_ip_address, 100);
    a.int_ip_address = clean(&u.int_ip_address, 100);
    a.domain = clean(&u.domain, 100);
    a.last_audit_date = clean_with(&u.last_audit_date, Time);
    a.last_reboot = clean_with(&u.last_reboot, Time);
    a.last_seen = clean_with(&u.last_seen, Time);
    a.online = u.online;
    a.patch_status = clean(&u.patch_status, 50);
    a.backup_usage_bytes = u.backup_usage_bytes.filter(|b| *b >= 0);
    a.enabled_administrators = clean(&u.enabled_administrators, 10_000);
    a.portal_url = clean_with(&u.portal_url, Url);
    a.web_remote_url = clean_with(&u.web_remote_url, Url);
    a.udfs = Udfs(
        u.udfs
            .iter()
            .filter_map(|(k, v)| {
                Some((udf_number(k.trim())?, clean(&Some(v.clone()), MAX_UDF_LEN)?))
            })
            .collect(),
    );
    let keep = |target: &mut Option<String>, v: Option<String>| {
        if v.is_some() {
            *target = v;
        }
    };
    keep(&mut a.manufacturer, clean(&u.manufacturer, 100));
    keep(&mut a.model, clean(&u.model, 100));
    keep(&mut a.serial_number, clean(&u.serial_number, 100));
    keep(
        &mut a.warranty_expires,
        clean_with(&u.warranty_expires, Date),
    );
    a.deleted_at = None;
    a.derive();
}

/// True when `after` differs from `before` only in readings that change on every poll
/// (last seen, online, patch and backup figures); those updates are not audited, or
/// every RMM sync would write an audit row per device.
fn only_telemetry_changed(before: &Asset, after: &Asset) -> bool {
    let mut b = before.clone();
    b.last_seen.clone_from(&after.last_seen);
    b.last_reboot.clone_from(&after.last_reboot);
    b.last_audit_date.clone_from(&after.last_audit_date);
    b.online = after.online;
    b.patch_status.clone_from(&after.patch_status);
    b.antivirus_status.clone_from(&after.antivirus_status);
    b.backup_usage_bytes = after.backup_usage_bytes;
    b.derive();
    b == *after
}

/// Creates or updates the asset a source reports and returns its row id, which stays
/// the same across renames (matched on the source's device id), moves between
/// companies and reappearances after `mark_missing`. Nothing is written when nothing
/// changed.
pub async fn upsert_from_source(db: &Db, u: &AssetUpsert) -> AppResult<super::Upserted> {
    use super::{Change, Upserted};
    let hostname =
        validate::required_text(&u.hostname, 150).map_err(|m| AppError::invalid("hostname", m))?;
    validate::required_text(&u.external_source, 50)
        .map_err(|m| AppError::invalid("external_source", m))?;
    let before = match find_for_upsert(db, u, &hostname).await? {
        Some(id) => get(db, id).await?,
        None => None,
    };
    let mut a = before.clone().unwrap_or_default();
    merge_upsert(&mut a, u, hostname);
    let (id, change) = match &before {
        Some(b) if *b == a => (b.id, Change::Unchanged),
        Some(b) => {
            let audited = !only_telemetry_changed(b, &a);
            (
                save(db, None, Some(b), &a, None, audited).await?.id,
                Change::Updated,
            )
        }
        None => (
            save(db, None, None, &a, None, true).await?.id,
            Change::Created,
        ),
    };
    Ok(Upserted { id, change })
}

/// Where `mark_missing` looks for devices that were not reported.
#[derive(Debug, Clone, Copy)]
pub enum MissingScope<'a> {
    Company(i64),
    /// An RMM site uid: use it when sites are fetched one by one, so a site whose fetch
    /// failed is simply not passed here and keeps its assets.
    Site(&'a str),
}

/// Soft-deletes the source's live assets in `scope` whose external id is not in
/// `seen_external_ids`; returns how many. An empty `seen` list is taken as a failed
/// fetch, not as "every device is gone", and marks nothing. Manual assets (no external
/// id) are never touched.
pub async fn mark_missing(
    db: &Db,
    source: &str,
    scope: MissingScope<'_>,
    seen_external_ids: &[String],
) -> AppResult<u64> {
    if seen_external_ids.is_empty() {
        return Ok(0);
    }
    let seen: HashSet<&str> = seen_external_ids.iter().map(|s| s.trim()).collect();
    let filter = "a.external_source = $1 AND a.external_id IS NOT NULL AND a.deleted_at IS NULL";
    let column = match scope {
        MissingScope::Company(_) => "a.company_id",
        MissingScope::Site(_) => "a.rmm_site_uid",
    };
    let sql = format!("{SELECT} WHERE {filter} AND {column} = $2");
    let q = sqlx::query(&sql).bind(source);
    let q = match scope {
        MissingScope::Company(id) => q.bind(id),
        MissingScope::Site(uid) => q.bind(uid),
    };
    let mut missing = Vec::new();
    for r in q.fetch_all(&db.pool).await? {
        let a = from_row(&r)?;
        if !seen.contains(a.external_id.as_deref().unwrap_or_default()) {
            missing.push(a);
        }
    }
    // One transaction: a sync that fails half-way marks nothing.
    let mut tx = db.pool.begin().await?;
    fill_contacts_by_id(&mut tx, &mut missing).await?;
    let now = crate::time::now_db();
    for before in &missing {
        let mut a = before.clone();
        a.deleted_at = Some(now.clone());
        save_in(&mut tx, None, Some(before), &a, None, true).await?;
    }
    tx.commit().await?;
    Ok(missing.len() as u64)
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

/// Lists assets (clients see only their company's).
#[utoipa::path(get, path = "/codex/api/assets", tag = "codex", params(AssetQuery),
    responses((status = 200, body = [Asset], headers(("X-Total-Count" = i64, description = "matching assets"))),
              (status = 401, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn list_assets(
    State(state): State<AppState>,
    who: Principal,
    OriginalUri(uri): OriginalUri,
    QueryParams(q): QueryParams<AssetQuery>,
) -> AppResult<(HeaderMap, Json<Vec<Asset>>)> {
    let page = Page::new(q.limit, q.offset, 100, 1000)?;
    let (list, total) = list(&state.db, who.company_scope(), &q, page).await?;
    Ok((page.headers(total, uri_str(&uri)), Json(list)))
}

/// Creates an asset by hand (`company_account_number` and `hostname` are required).
#[utoipa::path(post, path = "/codex/api/assets", tag = "codex", request_body = AssetInput,
    responses((status = 201, body = Asset), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create_asset(
    State(state): State<AppState>,
    crate::auth::MasterWriter(who): crate::auth::MasterWriter,
    JsonBody(input): JsonBody<AssetInput>,
) -> AppResult<(StatusCode, Json<Asset>)> {
    Ok((
        StatusCode::CREATED,
        Json(create(&state.db, &who, &input).await?),
    ))
}

/// One asset with every field and UDF.
#[utoipa::path(get, path = "/codex/api/assets/{id}", tag = "codex", params(("id" = i64, Path)),
    responses((status = 200, body = Asset), (status = 404, body = crate::error::Problem)))]
pub async fn get_asset(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<Asset>> {
    Ok(Json(visible(&state.db, &who, id).await?))
}

/// Updates the given fields (PUT and PATCH both patch; `udfs` merges keys).
#[utoipa::path(put, path = "/codex/api/assets/{id}", tag = "codex", params(("id" = i64, Path)),
    request_body = AssetInput,
    responses((status = 200, body = Asset), (status = 404, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn update_asset(
    State(state): State<AppState>,
    crate::auth::MasterWriter(who): crate::auth::MasterWriter,
    Path(id): Path<i64>,
    JsonBody(input): JsonBody<AssetInput>,
) -> AppResult<Json<Asset>> {
    Ok(Json(update(&state.db, &who, id, &input).await?))
}

/// Marks an asset deleted (soft delete: the row and its id stay).
#[utoipa::path(delete, path = "/codex/api/assets/{id}", tag = "codex", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
pub async fn delete_asset(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    who.require_master_write()?;
    soft_delete(&state.db, &who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompanyAssetsQuery {
    pub include_deleted: Option<bool>,
    /// hostname (default), hardware_type, operating_system, online, last_seen
    pub sort: Option<String>,
    pub order: Option<Order>,
    /// 1..=5000, default 1000.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A company's assets: the original's asset object (backup_usage_tb,
/// backup_data_bytes…) with every other field beside it.
#[utoipa::path(get, path = "/codex/api/companies/{account_number}/assets", tag = "codex",
    params(("account_number" = String, Path), CompanyAssetsQuery),
    responses((status = 200, body = [Asset], headers(("X-Total-Count" = i64, description = "the company's assets"))),
              (status = 404, body = crate::error::Problem)))]
pub async fn company_assets(
    State(state): State<AppState>,
    who: Principal,
    Path(account_number): Path<String>,
    OriginalUri(uri): OriginalUri,
    QueryParams(q): QueryParams<CompanyAssetsQuery>,
) -> AppResult<(HeaderMap, Json<Vec<Asset>>)> {
    let company = companies::visible(&state.db, &who, &account_number).await?;
    let page = Page::new(q.limit, q.offset, 1000, 5000)?;
    let query = AssetQuery {
        company: Some(company.account_number),
        include_deleted: q.include_deleted,
        sort: q.sort,
        order: q.order,
        ..AssetQuery::default()
    };
    let (list, total) = list(&state.db, who.company_scope(), &query, page).await?;
    Ok((page.headers(total, uri_str(&uri)), Json(list)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactIds {
    /// The complete new set (replaces the old one); at most 500.
    pub contact_ids: Vec<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AssetContact {
    pub id: i64,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AssetContacts {
    pub asset_id: i64,
    pub contact_ids: Vec<i64>,
    pub contacts: Vec<AssetContact>,
}

async fn contacts_of(db: &Db, asset: &Asset) -> AppResult<AssetContacts> {
    let rows = sqlx::query(
        "SELECT co.id, co.name, co.email FROM asset_contacts ac \
         JOIN contacts co ON co.id = ac.contact_id WHERE ac.asset_id = $1 ORDER BY co.id",
    )
    .bind(asset.id)
    .fetch_all(&db.pool)
    .await?;
    let contacts = rows
        .iter()
        .map(|r| {
            Ok(AssetContact {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                email: r.try_get(2)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(AssetContacts {
        asset_id: asset.id,
        contact_ids: contacts.iter().map(|c| c.id).collect(),
        contacts,
    })
}

/// The contacts assigned to an asset.
#[utoipa::path(get, path = "/codex/api/assets/{id}/contacts", tag = "codex", params(("id" = i64, Path)),
    responses((status = 200, body = AssetContacts), (status = 404, body = crate::error::Problem)))]
pub async fn get_asset_contacts(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<AssetContacts>> {
    let asset = visible(&state.db, &who, id).await?;
    Ok(Json(contacts_of(&state.db, &asset).await?))
}

/// Replaces the contacts assigned to an asset.
#[utoipa::path(put, path = "/codex/api/assets/{id}/contacts", tag = "codex", params(("id" = i64, Path)),
    request_body = ContactIds,
    responses((status = 200, body = AssetContacts), (status = 404, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn put_asset_contacts(
    State(state): State<AppState>,
    crate::auth::MasterWriter(who): crate::auth::MasterWriter,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<ContactIds>,
) -> AppResult<Json<AssetContacts>> {
    let asset = set_contacts(&state.db, &who, id, &body.contact_ids).await?;
    Ok(Json(contacts_of(&state.db, &asset).await?))
}

/// The original's `PUT /assets/<id>/update-contacts`, with its `{success, message}` reply.
pub async fn update_contacts_legacy(
    State(state): State<AppState>,
    crate::auth::MasterWriter(who): crate::auth::MasterWriter,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<ContactIds>,
) -> AppResult<Json<serde_json::Value>> {
    let asset = set_contacts(&state.db, &who, id, &body.contact_ids).await?;
    Ok(Json(serde_json::json!({
        "success": true,
        "message": format!("{} contact(s) assigned to {}", asset.contact_ids.len(), asset.hostname),
    })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeviceQuery {
    /// Account number of the company.
    pub company_id: Option<String>,
    /// online or offline
    pub status: Option<String>,
    /// 1..=1000, default 100.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A device in the vendor-neutral RMM shape the original served.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Device {
    /// `device-<asset id>`
    pub id: String,
    pub name: String,
    /// The company's account number.
    pub company_id: String,
    pub company_name: String,
    /// online or offline
    pub status: String,
    pub os: Option<String>,
    /// device_type, else hardware_type
    pub device_type: Option<String>,
    /// External address, else internal
    pub ip_address: Option<String>,
    pub last_seen: Option<String>,
    pub last_logged_in_user: Option<String>,
}

impl From<Asset> for Device {
    fn from(a: Asset) -> Device {
        Device {
            id: format!("device-{}", a.id),
            name: a.hostname,
            company_id: a.company_account_number,
            company_name: a.company_name,
            status: if a.online { "online" } else { "offline" }.into(),
            os: a.operating_system,
            device_type: a.device_type.or(a.hardware_type),
            ip_address: a.ext_ip_address.or(a.int_ip_address),
            last_seen: a.last_seen,
            last_logged_in_user: a.last_logged_in_user,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeviceList {
    pub devices: Vec<Device>,
    /// Devices in this page.
    pub count: usize,
    /// Devices matching the filters.
    pub total: i64,
}

/// RMM devices (live assets), vendor-neutral.
#[utoipa::path(get, path = "/codex/api/rmm/devices", tag = "codex", params(DeviceQuery),
    responses((status = 200, body = DeviceList), (status = 422, body = crate::error::Problem)))]
pub async fn rmm_devices(
    State(state): State<AppState>,
    who: Principal,
    OriginalUri(uri): OriginalUri,
    QueryParams(q): QueryParams<DeviceQuery>,
) -> AppResult<(HeaderMap, Json<DeviceList>)> {
    let page = Page::new(q.limit, q.offset, 100, 1000)?;
    let online = match non_blank(&q.status) {
        None => None,
        Some(s) => Some(
            validate::one_of(&s, &["online", "offline"])
                .map_err(|m| AppError::invalid("status", m))?
                == "online",
        ),
    };
    let query = AssetQuery {
        company: q.company_id,
        online,
        ..AssetQuery::default()
    };
    let (list, total) = list(&state.db, who.company_scope(), &query, page).await?;
    let devices: Vec<Device> = list.into_iter().map(Device::from).collect();
    Ok((
        page.headers(total, uri_str(&uri)),
        Json(DeviceList {
            count: devices.len(),
            devices,
            total,
        }),
    ))
}

/// `device-17` → 17.
pub fn parse_device_id(s: &str) -> Option<i64> {
    let digits = s.strip_prefix("device-")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// One RMM device (`device-<asset id>`): the real asset, nothing made up.
#[utoipa::path(get, path = "/codex/api/rmm/device/{device_id}", tag = "codex",
    params(("device_id" = String, Path, description = "device-<asset id>")),
    responses((status = 200, body = Asset), (status = 400, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem)))]
pub async fn rmm_device(
    State(state): State<AppState>,
    who: Principal,
    Path(device_id): Path<String>,
) -> AppResult<Json<Asset>> {
    let id = parse_device_id(&device_id).ok_or_else(|| {
        AppError::BadRequest(format!(
            "device id '{device_id}' is not of the form device-<number>"
        ))
    })?;
    Ok(Json(visible(&state.db, &who, id).await?))
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_assets, create_asset))
        .routes(routes!(get_asset, update_asset, delete_asset))
        .route("/codex/api/assets/{id}", patch_route(update_asset))
        .routes(routes!(get_asset_contacts, put_asset_contacts))
        .route(
            "/codex/assets/{id}/update-contacts",
            put(update_contacts_legacy),
        )
        .routes(routes!(company_assets))
        .routes(routes!(rmm_devices))
        .routes(routes!(rmm_device))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udf_keys_are_udf1_to_udf300_only() {
        assert_eq!(udf_number("udf1"), Some(1));
        assert_eq!(udf_number("udf300"), Some(300));
        for bad in [
            "udf0", "udf301", "udf07", "udf", "UDF5", "udf5x", "udf-1", "x1",
        ] {
            assert_eq!(udf_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn udfs_serialise_in_numeric_order() {
        let u = Udfs(
            [
                (10, "ten".to_string()),
                (2, "two".into()),
                (100, "h".into()),
            ]
            .into(),
        );
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            r#"{"udf2":"two","udf10":"ten","udf100":"h"}"#
        );
        assert_eq!(Udfs::from_json(&u.to_json()), u);
        assert_eq!(
            Udfs::from_json(r#"{"udf1":"","junk":"x","udf3":"y"}"#).get(3),
            Some("y")
        );
    }

    #[test]
    fn backup_tb_matches_the_original_figures() {
        assert_eq!(backup_tb(0), "0.00");
        assert_eq!(backup_tb(1), "0.00");
        assert_eq!(backup_tb(BYTES_PER_TB), "1.00");
        assert_eq!(backup_tb(BYTES_PER_TB * 3 / 2), "1.50");
        assert_eq!(backup_tb(5_000_000_000_000), "4.55");
        // Exact ties round to even, as Python's '%.2f' does with the exact quotient.
        assert_eq!(backup_tb(BYTES_PER_TB / 8), "0.12");
        assert_eq!(backup_tb(BYTES_PER_TB * 3 / 8), "0.38");
        assert_eq!(backup_tb(i64::MAX), "8388608.00");
    }

    #[test]
    fn udf6_bytes_parse_leniently_but_never_negative() {
        assert_eq!(parse_backup_bytes(" 1234 "), Some(1234));
        assert_eq!(parse_backup_bytes("1234.9"), Some(1234));
        assert_eq!(parse_backup_bytes("-5"), None);
        assert_eq!(parse_backup_bytes("lots"), None);
    }

    #[test]
    fn udf_patches_merge_and_report_every_bad_key() {
        let mut u = Udfs([(1, "a".to_string()), (2, "b".into())].into());
        let patch: BTreeMap<String, Option<String>> = [
            ("udf1".to_string(), None),
            ("udf2".into(), Some("B".into())),
            ("udf250".into(), Some("new".into())),
        ]
        .into();
        merge_udfs(&mut u, &patch).unwrap();
        assert_eq!(u, Udfs([(2, "B".to_string()), (250, "new".into())].into()));
        let bad: BTreeMap<String, Option<String>> = [
            ("udf301".to_string(), Some("x".into())),
            ("udf3".into(), Some("y".repeat(MAX_UDF_LEN + 1))),
        ]
        .into();
        let m = merge_udfs(&mut u, &bad).unwrap_err();
        assert!(m.contains("udf301") && m.contains("udf3 "), "{m}");
        assert_eq!(u.0.len(), 2, "a rejected patch changes nothing");
    }

    #[test]
    fn device_ids_need_the_device_prefix() {
        assert_eq!(parse_device_id("device-17"), Some(17));
        for bad in [
            "17",
            "device-",
            "device-x",
            "device--1",
            "Device-1",
            "device-99999999999999999999",
        ] {
            assert_eq!(parse_device_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn telemetry_only_changes_are_recognised() {
        let before = Asset {
            hostname: "ws1".into(),
            ..Asset::default()
        };
        let mut after = before.clone();
        after.last_seen = Some("2026-01-01T00:00:00.000000Z".into());
        after.online = true;
        after.backup_usage_bytes = Some(5);
        after.derive();
        assert!(only_telemetry_changed(&before, &after));
        after.operating_system = Some("Windows 11".into());
        assert!(!only_telemetry_changed(&before, &after));
    }
}
