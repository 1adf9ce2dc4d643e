//! Calls leaving Carillon: what a user may call, which trunks carry a number, and where emergency numbers go.

use carillon_sip::auth::{Ha1, HashFunction};
use carillon_sip::target::Transport;
use sqlx::{Acquire, PgExecutor, Postgres};

use crate::{Error, Result};

/// Builds a [`Trunk`] from a query row holding the `trunks` columns (the rows are different anonymous types).
macro_rules! trunk_from_row {
    ($row:expr) => {
        Trunk {
            kind: TrunkKind::from_db(&$row.kind)?,
            port: $row
                .port
                .map(u16::try_from)
                .transpose()
                .map_err(|_| Error::CorruptRow { table: "trunks", reason: "port out of range".to_owned() })?,
            transport: $row
                .transport
                .as_deref()
                .map(|t| {
                    Transport::parse(t)
                        .ok_or_else(|| Error::CorruptRow { table: "trunks", reason: format!("transport {t:?}") })
                })
                .transpose()?,
            auth_ha1_md5: trunk_ha1(HashFunction::Md5, $row.auth_ha1_md5.as_deref())?,
            auth_ha1_sha256: trunk_ha1(HashFunction::Sha256, $row.auth_ha1_sha256.as_deref())?,
            name: $row.name.clone(),
            host: $row.host.clone(),
            auth_username: $row.auth_username.clone(),
            auth_realm: $row.auth_realm.clone(),
            auth_password_sealed: $row.auth_password_sealed.clone(),
        }
    };
}

/// The kind of destination a call goes to; a user's class says which kinds the user may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallCategory {
    /// A user of the caller's own domain.
    Internal,
    /// Another domain served by Carillon, or a route of category `campus`.
    Campus,
    /// A route of category `local`.
    Local,
    /// A route of category `long_distance`.
    LongDistance,
    /// A route of category `international`.
    International,
    /// An emergency number: always allowed.
    Emergency,
}

impl CallCategory {
    /// The name used in the schema (`outbound_routes.category`, `user_classes.may_call_*`).
    pub const fn as_str(self) -> &'static str {
        match self {
            CallCategory::Internal => "internal",
            CallCategory::Campus => "campus",
            CallCategory::Local => "local",
            CallCategory::LongDistance => "long_distance",
            CallCategory::International => "international",
            CallCategory::Emergency => "emergency",
        }
    }

    fn from_route(text: &str) -> Result<CallCategory> {
        match text {
            "campus" => Ok(CallCategory::Campus),
            "local" => Ok(CallCategory::Local),
            "long_distance" => Ok(CallCategory::LongDistance),
            "international" => Ok(CallCategory::International),
            other => Err(Error::CorruptRow { table: "outbound_routes", reason: format!("category {other:?}") }),
        }
    }
}

/// What a user class may call. There is no field for emergency calls: [`allows`](Self::allows) always permits
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallPermissions {
    /// Users of the same domain.
    pub internal: bool,
    /// Other domains on Carillon and `campus` routes.
    pub campus: bool,
    /// `local` routes.
    pub local: bool,
    /// `long_distance` routes.
    pub long_distance: bool,
    /// `international` routes.
    pub international: bool,
}

impl CallPermissions {
    /// Whether a call of `category` is allowed; emergency calls always are.
    pub const fn allows(&self, category: CallCategory) -> bool {
        match category {
            CallCategory::Internal => self.internal,
            CallCategory::Campus => self.campus,
            CallCategory::Local => self.local,
            CallCategory::LongDistance => self.long_distance,
            CallCategory::International => self.international,
            CallCategory::Emergency => true,
        }
    }
}

/// The permissions of user `user_id`'s class; `None` when there is no such user.
pub async fn calling_permissions(executor: impl PgExecutor<'_>, user_id: i64) -> Result<Option<CallPermissions>> {
    let row = sqlx::query!(
        "SELECT c.may_call_internal, c.may_call_campus, c.may_call_local, c.may_call_long_distance,
                c.may_call_international
         FROM users u JOIN user_classes c ON c.id = u.user_class_id WHERE u.id = $1",
        user_id,
    )
    .fetch_optional(executor)
    .await?;
    Ok(row.map(|c| CallPermissions {
        internal: c.may_call_internal,
        campus: c.may_call_campus,
        local: c.may_call_local,
        long_distance: c.may_call_long_distance,
        international: c.may_call_international,
    }))
}

/// Whether a trunk is a PSTN gateway or a provider's SIP trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrunkKind {
    /// A PSTN gateway on the campus network, trusting the proxy by address.
    Gateway,
    /// An internet telephony provider's trunk, usually challenging with digest authentication.
    Provider,
}

impl TrunkKind {
    /// The name stored in `trunks.kind`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TrunkKind::Gateway => "gateway",
            TrunkKind::Provider => "provider",
        }
    }

    fn from_db(text: &str) -> Result<TrunkKind> {
        match text {
            "gateway" => Ok(TrunkKind::Gateway),
            "provider" => Ok(TrunkKind::Provider),
            other => Err(Error::CorruptRow { table: "trunks", reason: format!("kind {other:?}") }),
        }
    }
}

/// A trunk as provisioned and as routing reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunk {
    /// Name, unique ignoring case.
    pub name: String,
    /// Gateway or provider.
    pub kind: TrunkKind,
    /// IP address (IPv6 in brackets) or host name; a name without port is an RFC 3263 domain (SRV).
    pub host: String,
    /// Port; `None` lets RFC 3263 find it.
    pub port: Option<u16>,
    /// Transport; `None` lets RFC 3263 choose.
    pub transport: Option<Transport>,
    /// Username for the trunk's challenges.
    pub auth_username: Option<String>,
    /// Realm the HA1 values were computed for.
    pub auth_realm: Option<String>,
    /// MD5 HA1 for `auth_realm`.
    pub auth_ha1_md5: Option<Ha1>,
    /// SHA-256 HA1 for `auth_realm`.
    pub auth_ha1_sha256: Option<Ha1>,
    /// The password sealed by Carillon (version byte 1, nonce, ciphertext, tag); never plaintext.
    pub auth_password_sealed: Option<Vec<u8>>,
}

/// A trunk of a route, in the order to try, with the digit manipulation it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTrunk {
    /// Trunk row id.
    pub trunk_id: i64,
    /// The trunk.
    pub trunk: Trunk,
    /// Lower is tried first.
    pub priority: i16,
    /// Among equal priorities, cheaper is tried first.
    pub cost: i32,
    /// Leading digits to remove.
    pub strip_digits: u8,
    /// What to put in front after stripping.
    pub prepend: String,
}

impl RouteTrunk {
    /// The number to send to this trunk for `number` (after the outside-line prefix): strip, then prepend.
    pub fn number_for(&self, number: &str) -> String {
        let stripped = number.get(usize::from(self.strip_digits)..).unwrap_or("");
        format!("{}{stripped}", self.prepend)
    }
}

/// The route for a number: the one with the longest matching prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRoute {
    /// Route row id.
    pub id: i64,
    /// The prefix that matched.
    pub prefix: String,
    /// What the caller's class must allow.
    pub category: CallCategory,
    /// Enabled trunks by priority, then cost; empty when none is enabled.
    pub trunks: Vec<RouteTrunk>,
}

/// Finds the route for `number` (digits after the outside-line prefix): longest matching prefix, with its
/// enabled trunks by priority, then cost. `None` when no route matches.
pub async fn outbound_route<'a>(
    conn: impl Acquire<'a, Database = Postgres>,
    number: &str,
) -> Result<Option<OutboundRoute>> {
    let mut conn = conn.acquire().await?;
    let route = sqlx::query!(
        "SELECT id, prefix, category FROM outbound_routes
         WHERE starts_with($1, prefix) ORDER BY length(prefix) DESC LIMIT 1",
        number,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(route) = route else { return Ok(None) };
    let rows = sqlx::query!(
        "SELECT t.id, t.name, t.kind, t.host, t.port, t.transport, t.auth_username, t.auth_realm, t.auth_ha1_md5,
                t.auth_ha1_sha256, t.auth_password_sealed, rt.priority, rt.cost, rt.strip_digits, rt.prepend
         FROM outbound_route_trunks rt JOIN trunks t ON t.id = rt.trunk_id
         WHERE rt.route_id = $1 AND t.enabled
         ORDER BY rt.priority, rt.cost, t.id",
        route.id,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut trunks = Vec::with_capacity(rows.len());
    for row in rows {
        trunks.push(RouteTrunk {
            trunk_id: row.id,
            trunk: trunk_from_row!(row),
            priority: row.priority,
            cost: row.cost,
            strip_digits: u8::try_from(row.strip_digits)
                .map_err(|_| Error::CorruptRow { table: "outbound_route_trunks", reason: "strip_digits".to_owned() })?,
            prepend: row.prepend,
        });
    }
    Ok(Some(OutboundRoute {
        id: route.id,
        category: CallCategory::from_route(&route.category)?,
        prefix: route.prefix,
        trunks,
    }))
}

/// Where an emergency number goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmergencyRoute {
    /// What was dialled, e.g. `9911`.
    pub number: String,
    /// What to send to the gateway, e.g. `911`.
    pub dial_as: String,
    /// Trunk row id.
    pub trunk_id: i64,
    /// The emergency gateway. It is used even when disabled: an emergency call has nowhere else to go.
    pub trunk: Trunk,
}

/// The emergency route for `dialled`, `None` when it is not an emergency number.
pub async fn emergency_route(executor: impl PgExecutor<'_>, dialled: &str) -> Result<Option<EmergencyRoute>> {
    let row = sqlx::query!(
        "SELECT e.number, e.dial_as, t.id, t.name, t.kind, t.host, t.port, t.transport, t.auth_username,
                t.auth_realm, t.auth_ha1_md5, t.auth_ha1_sha256, t.auth_password_sealed
         FROM emergency_numbers e JOIN trunks t ON t.id = e.trunk_id WHERE e.number = $1",
        dialled,
    )
    .fetch_optional(executor)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(EmergencyRoute { trunk_id: row.id, trunk: trunk_from_row!(row), number: row.number, dial_as: row.dial_as }))
}

/// The columns of `trunks` a [`Trunk`] is made of, read by a query checked at run time.
type TrunkColumns = (
    String,
    String,
    String,
    Option<i32>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<Vec<u8>>,
);

/// The trunk named `name` (ignoring case, enabled or not: a call already going through it must be able to end),
/// `None` when there is none. For requests of a dialog through a trunk, which name the trunk but no route.
pub async fn trunk_by_name(executor: impl PgExecutor<'_>, name: &str) -> Result<Option<Trunk>> {
    let row: Option<TrunkColumns> = sqlx::query_as(
        "SELECT name, kind, host, port, transport, auth_username, auth_realm, auth_ha1_md5, auth_ha1_sha256,
                auth_password_sealed
         FROM trunks WHERE lower(name) = lower($1)",
    )
    .bind(name)
    .fetch_optional(executor)
    .await?;
    let Some(columns) = row else { return Ok(None) };
    struct Row {
        name: String,
        kind: String,
        host: String,
        port: Option<i32>,
        transport: Option<String>,
        auth_username: Option<String>,
        auth_realm: Option<String>,
        auth_ha1_md5: Option<String>,
        auth_ha1_sha256: Option<String>,
        auth_password_sealed: Option<Vec<u8>>,
    }
    let (name, kind, host, port, transport, auth_username, auth_realm, auth_ha1_md5, auth_ha1_sha256, sealed) = columns;
    let row = Row {
        name,
        kind,
        host,
        port,
        transport,
        auth_username,
        auth_realm,
        auth_ha1_md5,
        auth_ha1_sha256,
        auth_password_sealed: sealed,
    };
    Ok(Some(trunk_from_row!(row)))
}

fn trunk_ha1(hash: HashFunction, hex: Option<&str>) -> Result<Option<Ha1>> {
    hex.map(|hex| {
        Ha1::from_hex(hash, hex)
            .ok_or_else(|| Error::CorruptRow { table: "trunks", reason: format!("{hash:?} HA1 is not hex") })
    })
    .transpose()
}
