//! Registrations: the registrar's contact bindings, written through to the database so they survive restarts and
//! other nodes see them.

use std::net::SocketAddr;
use std::time::SystemTime;

use carillon_sip::target::Transport;
use sqlx::{Acquire, PgExecutor, Postgres};

use crate::time::{from_db, ip_from_db, ip_to_db, port_from_db, to_db};
use crate::{Error, Result};

/// One contact bound to an address of record (RFC 3261 §10), as the registrar writes and reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The registrar's id of the binding, unique within the AOR. Stored bit for bit in a signed `bigint`.
    pub binding_id: u64,
    /// The line whose credentials authenticated the REGISTER.
    pub line_id: i64,
    /// The address of record in the registrar's canonical form, e.g. `sip:4000@campus.test`.
    pub aor: String,
    /// The Contact URI, without the header's parameters.
    pub contact_uri: String,
    /// The Contact `q` value times 1000 (0 to 1000).
    pub q_thousandths: Option<u16>,
    /// Where the REGISTER came from.
    pub received: SocketAddr,
    /// The transport it came over.
    pub transport: Transport,
    /// The local socket it arrived on.
    pub local: SocketAddr,
    /// Path header URIs in the order received (RFC 3327).
    pub path: Vec<String>,
    /// `+sip.instance` (RFC 5626 §4.1).
    pub instance_id: Option<String>,
    /// `reg-id` (RFC 5626 §4.2); only with an instance.
    pub reg_id: Option<u32>,
    /// Call-ID of the REGISTER.
    pub call_id: String,
    /// CSeq number of the REGISTER.
    pub cseq: u32,
    /// When the binding was last created or refreshed.
    pub registered_at: SystemTime,
    /// When the binding lapses.
    pub expires_at: SystemTime,
    /// User-Agent header.
    pub user_agent: Option<String>,
    /// The node holding the flow the phone registered over.
    pub node_id: Option<String>,
}

/// What [`upsert_registration`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    /// The binding was added or replaced.
    Written,
    /// A binding with the same Call-ID and an equal or higher CSeq exists; nothing was written (RFC 3261 §10.3
    /// step 7: the update is aborted).
    Stale,
}

/// Adds or refreshes a binding. It replaces the AOR's binding with the same contact URI (RFC 3261 §10.3), the
/// one with the same instance and reg-id (RFC 5626 §6: a new registration of a flow replaces the old, even from a
/// new contact address) and the one with the same binding id (the registrar's own identity of the binding),
/// unless one of those has the same Call-ID and an equal or higher CSeq.
///
/// Writes of one AOR are serialised by a transaction-scoped advisory lock, so concurrent writers cannot both
/// replace the same binding.
pub async fn upsert_registration<'a>(
    conn: impl Acquire<'a, Database = Postgres>,
    registration: &Registration,
) -> Result<UpsertOutcome> {
    let r = registration;
    if r.reg_id.is_some() && r.instance_id.is_none() {
        return Err(Error::InvalidInput { what: "reg_id", reason: "reg-id without +sip.instance".to_owned() });
    }
    let reg_id = r
        .reg_id
        .map(i32::try_from)
        .transpose()
        .map_err(|_| Error::InvalidInput { what: "reg_id", reason: "above 2^31 - 1".to_owned() })?;
    let q = match r.q_thousandths {
        Some(q @ 0..=1000) => Some(q as i16),
        Some(q) => return Err(Error::InvalidInput { what: "q_thousandths", reason: format!("{q} above 1000") }),
        None => None,
    };
    let transport = r.transport.as_str().to_ascii_lowercase();
    let binding_id = binding_id_to_db(r.binding_id);

    let mut tx = conn.begin().await?;
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", r.aor).execute(&mut *tx).await?;
    let replaced = sqlx::query!(
        "SELECT call_id, cseq FROM registrations
         WHERE aor = $1
           AND (contact_uri = $2 OR (reg_id IS NOT NULL AND instance_id = $3 AND reg_id = $4) OR binding_id = $5)",
        r.aor,
        r.contact_uri,
        r.instance_id,
        reg_id,
        binding_id,
    )
    .fetch_all(&mut *tx)
    .await?;
    if replaced.iter().any(|old| old.call_id == r.call_id && old.cseq >= i64::from(r.cseq)) {
        return Ok(UpsertOutcome::Stale);
    }
    sqlx::query!(
        "DELETE FROM registrations
         WHERE aor = $1
           AND (contact_uri = $2 OR (reg_id IS NOT NULL AND instance_id = $3 AND reg_id = $4) OR binding_id = $5)",
        r.aor,
        r.contact_uri,
        r.instance_id,
        reg_id,
        binding_id,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO registrations
             (line_id, aor, contact_uri, q_thousandths, received_ip, received_port, transport, local_ip, local_port,
              path, instance_id, reg_id, call_id, cseq, expires_at, user_agent, node_id, binding_id, registered_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        r.line_id,
        r.aor,
        r.contact_uri,
        q,
        ip_to_db(r.received.ip()),
        i32::from(r.received.port()),
        transport,
        ip_to_db(r.local.ip()),
        i32::from(r.local.port()),
        &r.path,
        r.instance_id,
        reg_id,
        r.call_id,
        i64::from(r.cseq),
        to_db(r.expires_at),
        r.user_agent,
        r.node_id,
        binding_id,
        to_db(r.registered_at),
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(UpsertOutcome::Written)
}

/// Removes the binding of `contact_uri` to `aor`; whether there was one.
pub async fn delete_registration(executor: impl PgExecutor<'_>, aor: &str, contact_uri: &str) -> Result<bool> {
    let done = sqlx::query!("DELETE FROM registrations WHERE aor = $1 AND contact_uri = $2", aor, contact_uri)
        .execute(executor)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Removes every binding of `aor` (a REGISTER with `Contact: *` and `Expires: 0`); how many there were.
pub async fn delete_registrations_for_aor(executor: impl PgExecutor<'_>, aor: &str) -> Result<u64> {
    let done = sqlx::query!("DELETE FROM registrations WHERE aor = $1", aor).execute(executor).await?;
    Ok(done.rows_affected())
}

/// Removes every binding that lapsed at or before `now`; how many there were.
pub async fn delete_expired_registrations(executor: impl PgExecutor<'_>, now: SystemTime) -> Result<u64> {
    let done = sqlx::query!("DELETE FROM registrations WHERE expires_at <= $1", to_db(now)).execute(executor).await?;
    Ok(done.rows_affected())
}

/// The bindings of `aor` still valid after `now`, by contact URI.
pub async fn registrations_for_aor(
    executor: impl PgExecutor<'_>,
    aor: &str,
    now: SystemTime,
) -> Result<Vec<Registration>> {
    let rows = sqlx::query_as!(
        RegistrationRow,
        "SELECT line_id, aor, contact_uri, q_thousandths, received_ip, received_port, transport, local_ip, local_port,
                path, instance_id, reg_id, call_id, cseq, expires_at, user_agent, node_id, binding_id, registered_at
         FROM registrations WHERE aor = $1 AND expires_at > $2 ORDER BY contact_uri",
        aor,
        to_db(now),
    )
    .fetch_all(executor)
    .await?;
    rows.into_iter().map(RegistrationRow::into_registration).collect()
}

/// Every binding still valid after `now`, by AOR and contact URI: what a registrar loads when it starts.
pub async fn unexpired_registrations(executor: impl PgExecutor<'_>, now: SystemTime) -> Result<Vec<Registration>> {
    let rows = sqlx::query_as!(
        RegistrationRow,
        "SELECT line_id, aor, contact_uri, q_thousandths, received_ip, received_port, transport, local_ip, local_port,
                path, instance_id, reg_id, call_id, cseq, expires_at, user_agent, node_id, binding_id, registered_at
         FROM registrations WHERE expires_at > $1 ORDER BY aor, contact_uri",
        to_db(now),
    )
    .fetch_all(executor)
    .await?;
    rows.into_iter().map(RegistrationRow::into_registration).collect()
}

struct RegistrationRow {
    line_id: i64,
    aor: String,
    contact_uri: String,
    q_thousandths: Option<i16>,
    received_ip: sqlx::types::ipnet::IpNet,
    received_port: i32,
    transport: String,
    local_ip: sqlx::types::ipnet::IpNet,
    local_port: i32,
    path: Vec<String>,
    instance_id: Option<String>,
    reg_id: Option<i32>,
    call_id: String,
    cseq: i64,
    expires_at: sqlx::types::time::OffsetDateTime,
    user_agent: Option<String>,
    node_id: Option<String>,
    binding_id: i64,
    registered_at: sqlx::types::time::OffsetDateTime,
}

impl RegistrationRow {
    fn into_registration(self) -> Result<Registration> {
        const TABLE: &str = "registrations";
        let corrupt = |reason: String| Error::CorruptRow { table: TABLE, reason };
        Ok(Registration {
            binding_id: binding_id_from_db(self.binding_id),
            line_id: self.line_id,
            q_thousandths: self
                .q_thousandths
                .map(u16::try_from)
                .transpose()
                .map_err(|_| corrupt("negative q value".to_owned()))?,
            received: SocketAddr::new(ip_from_db(TABLE, self.received_ip)?, port_from_db(TABLE, self.received_port)?),
            transport: Transport::parse(&self.transport)
                .ok_or_else(|| corrupt(format!("unknown transport {:?}", self.transport)))?,
            local: SocketAddr::new(ip_from_db(TABLE, self.local_ip)?, port_from_db(TABLE, self.local_port)?),
            reg_id: self.reg_id.map(u32::try_from).transpose().map_err(|_| corrupt("negative reg-id".to_owned()))?,
            cseq: u32::try_from(self.cseq).map_err(|_| corrupt(format!("CSeq {} out of range", self.cseq)))?,
            registered_at: from_db(self.registered_at),
            expires_at: from_db(self.expires_at),
            aor: self.aor,
            contact_uri: self.contact_uri,
            path: self.path,
            instance_id: self.instance_id,
            call_id: self.call_id,
            user_agent: self.user_agent,
            node_id: self.node_id,
        })
    }
}

/// The `bigint` holding a binding id: the same 64 bits, read as signed, so every id fits and reads back unchanged.
fn binding_id_to_db(id: u64) -> i64 {
    i64::from_ne_bytes(id.to_ne_bytes())
}

fn binding_id_from_db(stored: i64) -> u64 {
    u64::from_ne_bytes(stored.to_ne_bytes())
}
