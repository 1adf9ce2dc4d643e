//! Nodes: the running Carillon servers, so they can find each other and stale ones show.

use std::time::SystemTime;

use sqlx::PgExecutor;

use crate::Result;
use crate::time::{from_db, to_db};

/// A running server as it announces itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Stable id from configuration, e.g. `proxy-1`.
    pub id: String,
    /// Carillon version.
    pub version: String,
    /// Newest migration the node's code knows ([`latest_schema_version`](crate::latest_schema_version)).
    pub schema_version: i64,
    /// SIP URI where other nodes reach it.
    pub address: String,
    /// When it (re)started.
    pub started_at: SystemTime,
    /// When it last said it is alive.
    pub heartbeat_at: SystemTime,
}

/// Announces a node at start: inserts it, or replaces what a previous run of the same id left.
pub async fn upsert_node(executor: impl PgExecutor<'_>, node: &Node) -> Result<()> {
    sqlx::query!(
        "INSERT INTO nodes (id, version, schema_version, address, started_at, heartbeat_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE SET
             version = EXCLUDED.version,
             schema_version = EXCLUDED.schema_version,
             address = EXCLUDED.address,
             started_at = EXCLUDED.started_at,
             heartbeat_at = EXCLUDED.heartbeat_at",
        node.id,
        node.version,
        node.schema_version,
        node.address,
        to_db(node.started_at),
        to_db(node.heartbeat_at),
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Records that node `id` is alive at `now`; `false` when no such node is announced.
pub async fn node_heartbeat(executor: impl PgExecutor<'_>, id: &str, now: SystemTime) -> Result<bool> {
    let done =
        sqlx::query!("UPDATE nodes SET heartbeat_at = $2 WHERE id = $1", id, to_db(now)).execute(executor).await?;
    Ok(done.rows_affected() == 1)
}

/// Every announced node, by id.
pub async fn nodes(executor: impl PgExecutor<'_>) -> Result<Vec<Node>> {
    let rows =
        sqlx::query!("SELECT id, version, schema_version, address, started_at, heartbeat_at FROM nodes ORDER BY id")
            .fetch_all(executor)
            .await?;
    Ok(rows
        .into_iter()
        .map(|row| Node {
            id: row.id,
            version: row.version,
            schema_version: row.schema_version,
            address: row.address,
            started_at: from_db(row.started_at),
            heartbeat_at: from_db(row.heartbeat_at),
        })
        .collect())
}
