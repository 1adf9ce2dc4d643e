//! TLS configuration: the server certificate that can be replaced while the server runs, and the client
//! configuration used for `sips:` targets.
//!
//! The server's `rustls::ServerConfig` is built once, with a certificate resolver ([`ReloadableCertificate`])
//! instead of a fixed certificate. Every new handshake asks the resolver, so swapping the certificate it holds
//! changes what new connections see; established connections keep the certificate they were opened with.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::error::Error;

/// The crypto provider of every configuration built here, chosen explicitly so that no process-wide default
/// provider has to be installed.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server certificate and key read from PEM files, replaceable at run time.
#[derive(Debug)]
pub struct ReloadableCertificate {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// Modification times of the two files when last loaded, to notice changes when polling.
    loaded_mtimes: RwLock<(Option<SystemTime>, Option<SystemTime>)>,
}

impl ReloadableCertificate {
    /// Loads the certificate chain and private key from PEM files.
    pub fn load(cert_path: impl Into<PathBuf>, key_path: impl Into<PathBuf>) -> Result<Self, Error> {
        let (cert_path, key_path) = (cert_path.into(), key_path.into());
        let provider = crypto_provider();
        let mtimes = (modified(&cert_path), modified(&key_path));
        let key = load_certified_key(&cert_path, &key_path, &provider)?;
        Ok(ReloadableCertificate {
            cert_path,
            key_path,
            provider,
            current: RwLock::new(Arc::new(key)),
            loaded_mtimes: RwLock::new(mtimes),
        })
    }

    /// Reads the files again and, if they hold a usable certificate and matching key, makes them the ones new
    /// handshakes use. On error the current certificate stays in place.
    pub fn reload(&self) -> Result<(), Error> {
        let mtimes = (modified(&self.cert_path), modified(&self.key_path));
        let key = load_certified_key(&self.cert_path, &self.key_path, &self.provider)?;
        // A poisoned lock only means a panic elsewhere while swapping an Arc; the value is still whole.
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(key);
        *self.loaded_mtimes.write().unwrap_or_else(|e| e.into_inner()) = mtimes;
        Ok(())
    }

    /// Whether either file's modification time differs from when it was last loaded.
    pub fn files_changed(&self) -> bool {
        let now = (modified(&self.cert_path), modified(&self.key_path));
        *self.loaded_mtimes.read().unwrap_or_else(|e| e.into_inner()) != now
    }

    /// The certificate chain new handshakes present.
    pub fn current_chain(&self) -> Vec<CertificateDer<'static>> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).cert.clone()
    }

    /// A server configuration that asks this certificate holder on every handshake.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, Error> {
        let config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for ReloadableCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// A client configuration trusting the certificates in a PEM file (a private CA, the system's bundle, or the
/// server certificates themselves), for TLS targets. Certificates in the file that cannot serve as trust anchors
/// are skipped, as system bundles may hold some; a file without a single usable one is an error.
pub fn client_config_from_pem(ca_path: &Path) -> Result<Arc<ClientConfig>, Error> {
    let mut roots = RootCertStore::empty();
    let (added, skipped) = roots.add_parsable_certificates(read_certs(ca_path)?);
    if added == 0 {
        return Err(Error::Certificate(format!("{}: no usable CA certificate in file", ca_path.display())));
    }
    if skipped > 0 {
        tracing::debug!(path = %ca_path.display(), added, skipped, "CA certificates that are not usable trust anchors skipped");
    }
    client_config(roots)
}

/// A client configuration trusting `roots`.
pub fn client_config(roots: RootCertStore) -> Result<Arc<ClientConfig>, Error> {
    let config = ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let file = File::open(path).map_err(|e| Error::Certificate(format!("{}: {e}", path.display())))?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(file))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Certificate(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Error::Certificate(format!("{}: no certificate in file", path.display())));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    let file = File::open(path).map_err(|e| Error::Certificate(format!("{}: {e}", path.display())))?;
    rustls_pemfile::private_key(&mut BufReader::new(file))
        .map_err(|e| Error::Certificate(format!("{}: {e}", path.display())))?
        .ok_or_else(|| Error::Certificate(format!("{}: no private key in file", path.display())))
}

fn load_certified_key(cert_path: &Path, key_path: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, Error> {
    let chain = read_certs(cert_path)?;
    let key = read_key(key_path)?;
    let key = CertifiedKey::from_der(chain, key, provider)
        .map_err(|e| Error::Certificate(format!("{} and {}: {e}", cert_path.display(), key_path.display())))?;
    Ok(key)
}
