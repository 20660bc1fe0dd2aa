//! (being written) deterministic demo dataset.

use crate::Db;

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

pub async fn generate(_db: &Db, _args: &DemoArgs) -> anyhow::Result<String> {
    anyhow::bail!("demo data generator not written yet")
}
