//! The `[tls]` table put to work: the trust store of the TLS connections the proxy opens (`ca_file`, or the
//! system bundle), and [`TlsFiles`], which reads the certificate, key and CA files again while the service runs
//! (`main` calls it on SIGHUP).
//!
//! The listener's certificate is also picked up without a signal: the transport compares the files' modification
//! times every [`CERTIFICATE_CHECK_INTERVAL`]. The CA bundle is read at start and on [`TlsFiles::reload`] only.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use carillon_sip_transport::{TransportLayer, tls};
use rustls::ClientConfig;
use tracing::{info, warn};

use crate::config::{SYSTEM_CA_BUNDLE, TlsConfig};
use crate::error::Error;

/// How often the transport looks at the certificate and key files' modification times.
pub(crate) const CERTIFICATE_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// The client configuration for outgoing TLS: trusting `ca_file`, or the system bundle when none is configured.
/// `None` (TLS targets unreachable, with a warning) when no file is configured and the system has no bundle, or
/// the system bundle cannot be used; a configured file that cannot be used is an error naming the field.
pub(crate) fn client_config(config: &TlsConfig) -> Result<Option<Arc<ClientConfig>>, Error> {
    match &config.ca_file {
        Some(path) => match tls::client_config_from_pem(path) {
            Ok(client) => {
                info!(ca_file = %path.display(), "outgoing TLS trusts the configured CA file");
                Ok(Some(client))
            }
            Err(e) => Err(Error::Config(format!("tls.ca_file: {e}"))),
        },
        None => {
            let system = Path::new(SYSTEM_CA_BUNDLE);
            if !system.exists() {
                warn!(
                    bundle = SYSTEM_CA_BUNDLE,
                    "no [tls] ca_file and no system CA bundle: TLS targets (trunks, other domains) are unreachable"
                );
                return Ok(None);
            }
            match tls::client_config_from_pem(system) {
                Ok(client) => {
                    info!(ca_file = SYSTEM_CA_BUNDLE, "outgoing TLS trusts the system CA bundle");
                    Ok(Some(client))
                }
                Err(e) => {
                    warn!(error = %e, "the system CA bundle cannot be used: TLS targets are unreachable");
                    Ok(None)
                }
            }
        }
    }
}

/// Reads the `[tls]` files again for a running service: the listener's certificate and key (for new handshakes;
/// connections already open keep theirs) and the CA bundle (for connections opened from now on). Cheap to clone.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    transport: TransportLayer,
    config: TlsConfig,
}

impl TlsFiles {
    pub(crate) fn new(transport: TransportLayer, config: TlsConfig) -> TlsFiles {
        TlsFiles { transport, config }
    }

    /// Reloads the certificate and key, then the CA bundle. A part whose files cannot be used keeps what it had;
    /// the first such error is returned once both were tried.
    pub fn reload(&self) -> Result<(), Error> {
        let certificate = self.transport.reload_certificate().map_err(Error::Transport);
        if let Err(e) = &certificate {
            warn!(error = %e, "TLS certificate not reloaded; the current one stays");
        }
        let trust = client_config(&self.config);
        match &trust {
            Ok(Some(client)) => {
                self.transport.set_tls_client(Some(client.clone()));
                info!("TLS trust store reloaded");
            }
            // Warned about already; what was trusted before stays trusted.
            Ok(None) => {}
            Err(e) => warn!(error = %e, "TLS trust store not reloaded; the current one stays"),
        }
        certificate.and(trust.map(drop))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_ca_file_that_cannot_be_used_is_a_configuration_error_naming_the_field() {
        let dir = std::env::temp_dir().join(format!("carillon-ca-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("ca.pem");
        std::fs::write(&path, "no certificate here").expect("write");
        let config = TlsConfig { ca_file: Some(path.clone()), ..TlsConfig::default() };
        match client_config(&config) {
            Err(Error::Config(message)) => assert!(message.starts_with("tls.ca_file:"), "{message}"),
            other => panic!("expected a configuration error, got {other:?}"),
        }
        let missing = TlsConfig { ca_file: Some(dir.join("absent.pem")), ..TlsConfig::default() };
        assert!(matches!(client_config(&missing), Err(Error::Config(m)) if m.starts_with("tls.ca_file:")));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn without_a_ca_file_the_system_bundle_is_trusted_when_there_is_one() {
        let trusted = client_config(&TlsConfig::default()).expect("never an error without a ca_file");
        assert_eq!(trusted.is_some(), Path::new(SYSTEM_CA_BUNDLE).exists());
    }
}
