//! Conversions between the API's `SystemTime` and the `timestamptz` type sqlx decodes to.

use std::net::IpAddr;
use std::time::SystemTime;

use sqlx::types::ipnet::IpNet;
use sqlx::types::time::OffsetDateTime;

use crate::Error;

pub(crate) fn to_db(time: SystemTime) -> OffsetDateTime {
    OffsetDateTime::from(time)
}

pub(crate) fn from_db(time: OffsetDateTime) -> SystemTime {
    SystemTime::from(time)
}

pub(crate) fn ip_to_db(ip: IpAddr) -> IpNet {
    IpNet::from(ip)
}

/// An `inet` column holding a host address (as every address column here does) back as an address.
pub(crate) fn ip_from_db(table: &'static str, net: IpNet) -> Result<IpAddr, Error> {
    if net.prefix_len() == net.max_prefix_len() {
        Ok(net.addr())
    } else {
        Err(Error::CorruptRow { table, reason: format!("{net} is a network, not a host address") })
    }
}

/// A port column (CHECKed to 1..=65535) back as a port.
pub(crate) fn port_from_db(table: &'static str, port: i32) -> Result<u16, Error> {
    u16::try_from(port).map_err(|_| Error::CorruptRow { table, reason: format!("port {port} out of range") })
}
