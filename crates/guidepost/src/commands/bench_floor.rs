//! `guidepost bench --floor`: the database's own floor beside the tool figures. The same
//! number of clients as the benchmark's users run, for the same time, the least a durable
//! tool call could cost: one single-row UPDATE in its own transaction, through a store
//! pool like Guidepost's own, on the same database (`Store::floor_write`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use guidepost_core::insights::analytics::percentile;
use guidepost_domain::Timestamp;
use guidepost_store::Store;
use serde::Serialize;

/// What the floor measured.
#[derive(Debug, Clone, Serialize)]
pub struct FloorFigures {
    pub clients: u16,
    /// Transactions that committed; failed ones are `errors`, in no other figure.
    pub transactions: u64,
    pub errors: u64,
    pub transactions_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// CPU time of this process per committed transaction, in microseconds (the
    /// clients and the store pool; not a PostgreSQL server's own).
    pub cpu_us_per_transaction: Option<f64>,
}

/// Opens the benchmark's own pool on the database Guidepost uses.
pub async fn open(database_url: &str) -> anyhow::Result<Arc<dyn Store>> {
    guidepost_store::connect(database_url)
        .await
        .with_context(|| {
            format!(
                "opening {} for the floor",
                guidepost_store::redact(database_url)
            )
        })
}

/// Runs `clients` loops of single-row UPDATEs for `duration`.
pub async fn measure(
    store: &Arc<dyn Store>,
    clients: u16,
    duration: Duration,
) -> anyhow::Result<FloorFigures> {
    let org = store.create_organization("Bench floor").await?;
    let mut rows = Vec::with_capacity(usize::from(clients));
    for _ in 0..clients {
        rows.push(
            store
                .create_anonymous_end_user(&org.id, Timestamp::now())
                .await?,
        );
    }
    crate::output::note!(
        "bench: floor, {clients} clients of one single-row UPDATE each, {} s",
        duration.as_secs()
    );
    let cpu_before = super::cpu_time::used();
    let started = Instant::now();
    let deadline = started + duration;
    let loops = rows.into_iter().map(|row| {
        let (store, org): (Arc<dyn Store>, _) = (store.clone(), org.id.clone());
        tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0);
            while Instant::now() < deadline {
                let at = Instant::now();
                match store.floor_write(&org, &row.id, Timestamp::now()).await {
                    Ok(()) => latencies.push(at.elapsed().as_micros() as i64),
                    Err(_) => errors += 1,
                }
            }
            (latencies, errors)
        })
    });
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for done in futures::future::join_all(loops).await {
        let (client_latencies, client_errors) = done.context("a floor client panicked")?;
        latencies.extend(client_latencies);
        errors += client_errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = super::cpu_time::used();
    latencies.sort_unstable();
    let ms = |us: i64| us as f64 / 1000.0;
    Ok(FloorFigures {
        clients,
        transactions: latencies.len() as u64,
        errors,
        transactions_per_sec: latencies.len() as f64 / elapsed,
        p50_ms: ms(percentile(&latencies, 50.0)),
        p99_ms: ms(percentile(&latencies, 99.0)),
        cpu_us_per_transaction: super::cpu_time::per_unit_micros(
            cpu_before,
            cpu_after,
            latencies.len() as u64,
        ),
    })
}

/// Transactions the database committed so far, where it counts them (PostgreSQL).
pub async fn commits(store: &Arc<dyn Store>) -> Option<u64> {
    store.commits().await.ok().flatten()
}
