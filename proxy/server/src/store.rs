//! The database behind the service: binding write-through and call-record write-behind through one bounded queue
//! drained by one task, and the conversions between the registrar's bindings and the `registrations` rows.
//!
//! Memory is the source of truth for bindings; the database is written after the fact so a restarted node can warm
//! start. Nothing on the SIP path waits for a write: the engine only `try_send`s into the queue. A write that fails
//! for a reason that may pass (the database is down) is retried with a growing pause, in order, so a later change
//! of the same binding cannot overtake an earlier one; a write the database refuses for good is logged and
//! dropped. When the queue is full the change is dropped with a warning: the binding is still served from memory
//! and its next refresh writes it whole.
//!
//! Writes waiting together are committed together (up to [`WRITE_BATCH`] in one transaction): at thousands of
//! registrations a second a commit per write would make the database flush its log thousands of times a second.
//! If a batch fails, its writes are applied one by one as above, so one refused write does not take the others
//! with it and the order is kept.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use carillon_registrar::{Aor, Binding, BindingId, Flow, NodeId};
use sqlx::{PgConnection, PgPool};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// Capacity of the write queue: room for a registration storm of this many changes while the database lags.
pub(crate) const WRITE_QUEUE: usize = 50_000;
/// At most this many queued writes go in one transaction.
pub(crate) const WRITE_BATCH: usize = 256;
/// The first pause before retrying a failed write; doubled up to [`MAX_RETRY_PAUSE`].
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(100);
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);

/// One write for the database.
#[derive(Debug, Clone)]
pub(crate) enum Write {
    /// A binding added or refreshed.
    Upsert(Box<carillon_db::Registration>),
    /// A binding removed.
    Delete {
        /// Its address of record.
        aor: String,
        /// Its contact URI.
        contact: String,
    },
    /// A finished call.
    CallRecord(Box<carillon_db::CallRecord>),
}

/// Applies writes in order until the queue closes (every sender dropped), retrying those that may succeed later.
pub(crate) async fn write_loop(pool: PgPool, mut queue: mpsc::Receiver<Write>) {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while let Some(first) = queue.recv().await {
        batch.push(first);
        while batch.len() < WRITE_BATCH {
            match queue.try_recv() {
                Ok(write) => batch.push(write),
                Err(_) => break,
            }
        }
        if batch.len() == 1 || apply_together(&pool, &batch).await.is_err() {
            for write in &batch {
                apply_alone(&pool, write).await;
            }
        }
        batch.clear();
    }
    info!("database write queue flushed");
}

/// Applies `batch` in one transaction; on any error nothing of it is committed.
async fn apply_together(pool: &PgPool, batch: &[Write]) -> carillon_db::Result<()> {
    let mut tx = pool.begin().await?;
    for write in batch {
        apply(&mut tx, write).await?;
    }
    Ok(tx.commit().await?)
}

/// Applies one write, retrying while the failure may pass.
async fn apply_alone(pool: &PgPool, write: &Write) {
    let mut pause = FIRST_RETRY_PAUSE;
    loop {
        let applied = match pool.acquire().await {
            Ok(mut conn) => apply(&mut conn, write).await,
            Err(e) => Err(e.into()),
        };
        match applied {
            Ok(()) => return,
            Err(e) if retryable(&e) => {
                warn!(error = %e, retry_in = ?pause, "database write failed; retrying (bindings are served from memory)");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_RETRY_PAUSE);
            }
            Err(e) => {
                warn!(error = %e, ?write, "database refused a write; dropped");
                return;
            }
        }
    }
}

async fn apply(conn: &mut PgConnection, write: &Write) -> carillon_db::Result<()> {
    match write {
        Write::Upsert(registration) => {
            let outcome = carillon_db::upsert_registration(&mut *conn, registration).await?;
            if outcome == carillon_db::UpsertOutcome::Stale {
                debug!(aor = %registration.aor, contact = %registration.contact_uri, "database holds a newer binding");
            }
        }
        Write::Delete { aor, contact } => {
            carillon_db::delete_registration(&mut *conn, aor, contact).await?;
        }
        Write::CallRecord(record) => {
            carillon_db::insert_call_record(&mut *conn, record).await?;
        }
    }
    Ok(())
}

/// Whether a failed write may succeed if tried again: connection and query failures, not refusals.
fn retryable(e: &carillon_db::Error) -> bool {
    matches!(e, carillon_db::Error::Connect(_) | carillon_db::Error::Query(_))
}

/// The row for a binding of line `line_id`.
pub(crate) fn registration(binding: &Binding, line_id: i64) -> carillon_db::Registration {
    carillon_db::Registration {
        binding_id: binding.id.0,
        line_id,
        aor: binding.aor.as_str().to_owned(),
        contact_uri: binding.contact.to_string(),
        q_thousandths: binding.q,
        received: binding.flow.source,
        transport: binding.flow.transport,
        local: binding.flow.local,
        path: binding.path.iter().map(|p| p.to_string()).collect(),
        instance_id: binding.instance.as_deref().map(str::to_owned),
        reg_id: binding.reg_id,
        call_id: binding.call_id.to_string(),
        cseq: binding.cseq,
        registered_at: UNIX_EPOCH + binding.registered_at,
        expires_at: UNIX_EPOCH + binding.expires_at,
        user_agent: binding.user_agent.as_deref().map(str::to_owned),
        node_id: Some(binding.node.as_str().to_owned()),
    }
}

/// The binding a stored row describes, for the warm start, under the id and registration time the registrar gave
/// it; `None` when its AOR is not a SIP URI.
pub(crate) fn binding(row: &carillon_db::Registration) -> Option<Binding> {
    let aor = Aor::parse(&row.aor).ok()?;
    Some(Binding {
        id: BindingId(row.binding_id),
        aor,
        contact: row.contact_uri.as_str().into(),
        q: row.q_thousandths,
        instance: row.instance_id.as_deref().map(Into::into),
        reg_id: row.reg_id,
        call_id: row.call_id.as_str().into(),
        cseq: row.cseq,
        expires_at: row.expires_at.duration_since(UNIX_EPOCH).unwrap_or_default(),
        registered_at: since_epoch(row.registered_at),
        path: row.path.iter().map(|p| Arc::from(p.as_str())).collect(),
        flow: Flow { transport: row.transport, source: row.received, local: row.local, id: None },
        node: NodeId::new(row.node_id.as_deref().unwrap_or("")),
        user_agent: row.user_agent.as_deref().map(Into::into),
    })
}

/// Time since the Unix epoch, as the registrar and the digest code take it.
pub(crate) fn since_epoch(time: SystemTime) -> Duration {
    time.duration_since(UNIX_EPOCH).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use carillon_sip::target::Transport;

    #[test]
    fn a_binding_survives_the_row_round_trip() {
        let row = carillon_db::Registration {
            binding_id: u64::MAX - 1,
            line_id: 7,
            aor: "sip:4000@campus.test".to_owned(),
            contact_uri: "sip:4000@192.0.2.1:5062".to_owned(),
            q_thousandths: Some(500),
            received: "192.0.2.1:5062".parse().expect("address"),
            transport: Transport::Udp,
            local: "192.0.2.10:5060".parse().expect("address"),
            path: vec!["<sip:edge.campus.test;lr>".to_owned()],
            instance_id: Some("urn:uuid:00000000-0000-0000-0000-000000000001".to_owned()),
            reg_id: Some(1),
            call_id: "reg-1".to_owned(),
            cseq: 3,
            registered_at: UNIX_EPOCH + Duration::from_secs(1_999_996_400),
            expires_at: UNIX_EPOCH + Duration::from_secs(2_000_000_000),
            user_agent: Some("phone".to_owned()),
            node_id: Some("sip1".to_owned()),
        };
        let binding = binding(&row).expect("a SIP AOR");
        assert_eq!(binding.id, BindingId(u64::MAX - 1), "the stored id, not one made up");
        assert_eq!(binding.registered_at, Duration::from_secs(1_999_996_400), "the stored time, not the load time");
        assert_eq!(registration(&binding, 7), row);
    }

    /// A burst of writes (three batches' worth) is stored whole; one write the database refuses is dropped
    /// alone, the others of its batch, before and after it, are all stored.
    #[test]
    fn a_burst_of_writes_is_stored_whole_and_a_refused_one_drops_alone() {
        let server = carillon_testkit::PostgresServer::start().expect("start a private PostgreSQL");
        let url = server.fresh_database().expect("a database");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let pool = carillon_db::connect(&url).await.expect("connect");
            carillon_db::migrate(&pool).await.expect("migrate");
            carillon_db::seed_demo(&pool, 1, 7).await.expect("seed");
            let line_id: i64 = sqlx::query_scalar("SELECT id FROM lines").fetch_one(&pool).await.expect("the line");
            let aor = sqlx::query_scalar::<_, String>("SELECT 'sip:' || username || '@campus.test' FROM lines")
                .fetch_one(&pool)
                .await
                .expect("the AOR");
            let (tx, rx) = mpsc::channel(WRITE_QUEUE);
            let writes = 3 * WRITE_BATCH;
            for n in 0..writes {
                let mut row = carillon_db::Registration {
                    binding_id: n as u64 + 1,
                    line_id,
                    aor: aor.clone(),
                    contact_uri: format!("sip:phone@192.0.2.1:{}", 10_000 + n),
                    q_thousandths: None,
                    received: "192.0.2.1:5060".parse().expect("address"),
                    transport: Transport::Udp,
                    local: "192.0.2.10:5060".parse().expect("address"),
                    path: Vec::new(),
                    instance_id: None,
                    reg_id: None,
                    call_id: format!("reg-{n}"),
                    cseq: 1,
                    registered_at: SystemTime::now(),
                    expires_at: SystemTime::now() + Duration::from_secs(3600),
                    user_agent: None,
                    node_id: None,
                };
                if n == WRITE_BATCH + 7 {
                    row.reg_id = Some(1); // reg-id without +sip.instance: refused for good
                }
                tx.try_send(Write::Upsert(Box::new(row))).expect("room in the queue");
            }
            drop(tx);
            write_loop(pool.clone(), rx).await;
            let stored: i64 =
                sqlx::query_scalar("SELECT count(*) FROM registrations").fetch_one(&pool).await.expect("count");
            assert_eq!(stored, writes as i64 - 1, "every write but the refused one");
        });
    }
}
