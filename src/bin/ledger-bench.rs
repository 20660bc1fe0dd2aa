//! `ledger-bench`: loads the demo dataset (500 companies by default) into a fresh
//! SQLite database and reports how long Ledger takes to compute the billing dashboard
//! for one month (every company's bill, in one batch), one company's bill, and the
//! bulk invoice ZIP. Target: dashboard under 500 ms in a release build.
//!
//! `cargo run --release --bin ledger-bench [-- --companies 500 --runs 7]`
//! (set `DATABASE_URL` to bench PostgreSQL instead).

use clap::Parser;
use hivematrix::demo::DemoArgs;
use hivematrix::ledger::{http, load, BillingPeriod};
use hivematrix::{Db, Settings};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "ledger-bench",
    about = "Ledger dashboard benchmark on the demo data"
)]
struct Args {
    #[command(flatten)]
    demo: DemoArgs,
    /// Timed runs per measurement (after one warm-up run).
    #[arg(long, default_value_t = 7)]
    runs: usize,
}

fn stats(mut d: Vec<Duration>) -> String {
    d.sort();
    let ms = |x: Duration| x.as_secs_f64() * 1000.0;
    format!(
        "min {:.1} ms, median {:.1} ms, max {:.1} ms",
        ms(d[0]),
        ms(d[d.len() / 2]),
        ms(d[d.len() - 1])
    )
}

async fn time<F, Fut, T>(runs: usize, mut f: F) -> anyhow::Result<(Vec<Duration>, T)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut last = f().await?;
    let mut out = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        last = f().await?;
        out.push(t.elapsed());
    }
    Ok((out, last))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runs = args.runs.max(1);
    let dir = std::env::temp_dir().join(format!("ledger-bench-{}", std::process::id()));
    let settings = Settings {
        data_dir: dir.clone(),
        database_url: std::env::var("DATABASE_URL").ok(),
        ..Settings::default()
    };
    let db = Db::connect(&settings).await?;
    db.migrate().await?;
    let report = hivematrix::demo::generate_report(&db, &args.demo).await?;
    println!("demo data: {report}");
    let period = BillingPeriod::of(chrono::Utc::now());

    let (d, dash) = time(runs, || async { Ok(http::dashboard(&db, period).await?) }).await?;
    println!(
        "dashboard {period}: {} companies ({} without a price: {}), revenue {}",
        dash.company_count,
        dash.error_count,
        dash.companies
            .iter()
            .filter_map(|r| r.error.as_deref())
            .next()
            .unwrap_or("-"),
        dash.total_revenue
    );
    println!("dashboard_ms: {}", stats(d));

    let busiest = dash
        .companies
        .iter()
        .max_by_key(|r| r.workstations + r.servers + r.users)
        .map(|r| r.account_number.clone())
        .unwrap_or_default();
    let (d, bill) = time(runs, || async {
        Ok(http::load_one(&db, &busiest, period).await?.bill())
    })
    .await?;
    println!(
        "bill of {busiest}: {} lines, total {}",
        bill.lines.len(),
        bill.totals.total
    );
    println!("single_bill_ms: {}", stats(d));

    let (d, bytes) = time(runs, || async {
        let companies = hivematrix::codex::companies::list_live(&db).await?;
        let loaded = load::load(&db, &companies, period).await?;
        let files: Vec<(String, String)> = loaded
            .iter()
            .filter_map(|l| {
                let b = l.bill();
                hivematrix::ledger::invoice_csv(&b).ok().map(|csv| {
                    (
                        hivematrix::ledger::invoice::invoice_file_name(&b.company_name, period),
                        csv,
                    )
                })
            })
            .collect();
        Ok(http::zip_files(&files)?.len())
    })
    .await?;
    println!("invoice ZIP: {bytes} bytes");
    println!("invoice_zip_ms: {}", stats(d));
    db.pool.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
