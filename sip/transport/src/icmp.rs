//! ICMP errors on the shared UDP socket (Linux): which destinations refused a datagram.
//!
//! An unconnected UDP socket hears nothing of ICMP "port unreachable" unless `IP_RECVERR` is set; with it, the
//! kernel queues each error with the destination of the datagram that caused it, and the socket reports an
//! error readiness. Reading that queue lets the layer tell the transaction layer that a target refused, so it
//! can fail over at once instead of waiting for a timer (RFC 3261 §8.1.3.1, RFC 3263 §4.3).

use std::io;
use std::net::SocketAddr;

use tokio::net::UdpSocket;

/// Asks the kernel to queue ICMP errors on `socket`.
#[cfg(target_os = "linux")]
pub(crate) fn enable(socket: &UdpSocket) -> io::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt};
    let result = match socket.local_addr()? {
        SocketAddr::V4(_) => setsockopt(socket, sockopt::Ipv4RecvErr, &true),
        SocketAddr::V6(_) => setsockopt(socket, sockopt::Ipv6RecvErr, &true),
    };
    result.map_err(io::Error::from)
}

/// Takes the queued errors: each destination that could not be reached, with the error it caused. Bounded, so
/// a flood of ICMP cannot hold the receive loop.
#[cfg(target_os = "linux")]
pub(crate) fn take_errors(socket: &UdpSocket) -> Vec<(SocketAddr, io::Error)> {
    let mut errors = Vec::new();
    let mut drained = false;
    for _ in 0..64 {
        match socket.try_io(tokio::io::Interest::ERROR, || read_one(socket)) {
            Ok(Some(found)) => errors.push(found),
            Ok(None) => {}
            Err(e) => {
                drained = e.kind() == io::ErrorKind::WouldBlock;
                break;
            }
        }
    }
    if !drained {
        // Stopped by the bound or an unexpected error: clear the readiness anyway, so the receive loop waits for
        // the next report instead of spinning on this one.
        let _ = socket.try_io(tokio::io::Interest::ERROR, || Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock)));
    }
    errors
}

#[cfg(target_os = "linux")]
fn read_one(socket: &UdpSocket) -> io::Result<Option<(SocketAddr, io::Error)>> {
    use std::io::IoSliceMut;
    use std::os::fd::AsRawFd;

    use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg};

    let mut data = [0u8; 512];
    let mut iov = [IoSliceMut::new(&mut data)];
    let mut control = nix::cmsg_space!(nix::libc::sock_extended_err, nix::libc::sockaddr_in6);
    let message = recvmsg::<SockaddrStorage>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut control),
        MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)?;
    let destination = message.address.and_then(|a| {
        a.as_sockaddr_in()
            .map(|v4| SocketAddr::from(*v4))
            .or_else(|| a.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6)))
    });
    let errno = message.cmsgs().ok().and_then(|mut cmsgs| {
        cmsgs.find_map(|c| match c {
            ControlMessageOwned::Ipv4RecvErr(e, _) | ControlMessageOwned::Ipv6RecvErr(e, _) => Some(e.ee_errno),
            _ => None,
        })
    });
    Ok(destination.zip(errno).map(|(d, e)| (d, io::Error::from_raw_os_error(e as i32))))
}

/// Elsewhere ICMP errors are not read: failover waits for the transaction timers.
#[cfg(not(target_os = "linux"))]
pub(crate) fn enable(_socket: &UdpSocket) -> io::Result<()> {
    Ok(())
}

/// Elsewhere ICMP errors are not read.
#[cfg(not(target_os = "linux"))]
pub(crate) fn take_errors(_socket: &UdpSocket) -> Vec<(SocketAddr, io::Error)> {
    Vec::new()
}
