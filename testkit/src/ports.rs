//! Loopback ports for peers: ports free a moment ago (the kernel's ephemeral choice), and whether a port is bound
//! now, read from `/proc/net` so that looking never takes the port away from the peer about to bind it.

use std::fs::{self, File};
use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};

use crate::Error;

/// The first port of the kernel's default ephemeral range (`net.ipv4.ip_local_port_range`); RTP ranges are
/// chosen below it so the kernel never hands their ports out to someone else.
const EPHEMERAL_START: u16 = 32768;

/// Where RTP ranges are chosen: above the registered SIP ports, below the ephemeral range.
const RTP_AREA_START: u16 = 16384;

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub(crate) fn free_udp_port() -> Result<u16, Error> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| Error::io("bind udp 127.0.0.1:0", e))?;
    socket.local_addr().map(|a| a.port()).map_err(|e| Error::io("read the bound port", e))
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub(crate) fn free_tcp_port() -> Result<u16, Error> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| Error::io("bind tcp 127.0.0.1:0", e))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| Error::io("read the bound port", e))
}

/// A port `p` such that `p` and `p + 1` were free a moment ago for both UDP and TCP on 127.0.0.1: a SIP user agent
/// that listens on UDP and TCP at `p` and on TLS at `p + 1` (baresip does) fits.
pub(crate) fn free_port_pair() -> Result<u16, Error> {
    for _ in 0..50 {
        let port = free_udp_port()?;
        let Some(next) = port.checked_add(1) else { continue };
        let all_free = [port, next].iter().all(|&p| {
            UdpSocket::bind((Ipv4Addr::LOCALHOST, p)).is_ok() && TcpListener::bind((Ipv4Addr::LOCALHOST, p)).is_ok()
        });
        if all_free {
            return Ok(port);
        }
    }
    Err(Error::io("find two free adjacent ports on 127.0.0.1", std::io::ErrorKind::AddrInUse.into()))
}

/// A range of `len` UDP ports for RTP, even-aligned, below the ephemeral range, at a random place so that peers
/// started by concurrent tests rarely share one. A peer picks its ports inside the range and skips taken ones.
pub(crate) fn rtp_port_range(len: u16) -> Result<(u16, u16), Error> {
    let slots = (EPHEMERAL_START - RTP_AREA_START) / len.max(2);
    let slot = u16::try_from(random_u32()? % u32::from(slots.max(1))).unwrap_or(0);
    let low = RTP_AREA_START + slot * len.max(2);
    Ok((low, low + len.max(2) - 1))
}

/// Whether something listens on `port` (any local address): UDP sockets from `/proc/net/udp`, TCP listeners
/// (state `0A`) from `/proc/net/tcp`.
pub(crate) fn port_is_bound(port: u16, protocol: Protocol) -> bool {
    let (table, listen_only) = match protocol {
        Protocol::Udp => ("/proc/net/udp", false),
        Protocol::Tcp => ("/proc/net/tcp", true),
    };
    let Ok(contents) = fs::read_to_string(table) else { return false };
    let wanted = format!("{port:04X}");
    contents.lines().skip(1).any(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1).unwrap_or_default();
        let state = fields.nth(1).unwrap_or_default();
        local.rsplit_once(':').is_some_and(|(_, p)| p == wanted) && (!listen_only || state == "0A")
    })
}

/// A transport protocol, for [`port_is_bound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Udp,
    Tcp,
}

/// Four random bytes from the kernel.
pub(crate) fn random_u32() -> Result<u32, Error> {
    let mut bytes = [0u8; 4];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::io("read /dev/urandom", e))?;
    Ok(u32::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_socket_is_seen_and_a_released_one_is_not() {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = socket.local_addr().expect("addr").port();
        assert!(port_is_bound(port, Protocol::Udp));
        drop(socket);
        assert!(!port_is_bound(port, Protocol::Udp));

        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        assert!(port_is_bound(port, Protocol::Tcp));
        assert!(!port_is_bound(port, Protocol::Udp));
    }

    #[test]
    fn rtp_ranges_stay_between_the_sip_ports_and_the_ephemeral_range() {
        for _ in 0..100 {
            let (low, high) = rtp_port_range(40).expect("range");
            assert_eq!(high - low, 39);
            assert!(low >= RTP_AREA_START && high < EPHEMERAL_START, "{low}-{high}");
            assert_eq!(low % 2, 0);
        }
    }
}
