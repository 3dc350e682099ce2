//! RFC 5425: syslog over TLS with rustls (ring provider).

use std::fmt;
use std::io::{self, Read};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::sink::SinkError;

pub(super) type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// TLS settings for a syslog sink: the certificate authorities to trust, the
/// name to expect on the server's certificate and, optionally, a client
/// certificate. Needs the `syslog-tls` feature.
///
/// ```no_run
/// use privlog::sink::{SyslogSink, SyslogTls};
///
/// let tls = SyslogTls::new("logs.example.net")?.ca_file("/etc/ssl/certs/logs-ca.pem")?;
/// let sink = SyslogSink::tls("logs.example.net:6514", tls)?;
/// # Ok::<(), privlog::sink::SinkError>(())
/// ```
#[derive(Clone)]
pub struct SyslogTls {
    server_name: ServerName<'static>,
    roots: RootCertStore,
    client: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    config: Option<Arc<ClientConfig>>,
}

impl fmt::Debug for SyslogTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyslogTls")
            .field("server_name", &self.server_name)
            .field("roots", &self.roots.len())
            .field("client_cert", &self.client.is_some())
            .finish_non_exhaustive()
    }
}

impl SyslogTls {
    /// Expects `server_name` (a DNS name or an IP address) on the server's
    /// certificate. Trusts no authority until [`SyslogTls::ca_file`] or
    /// [`SyslogTls::ca_pem`] adds one.
    ///
    /// # Errors
    /// `server_name` is neither a DNS name nor an IP address.
    pub fn new(server_name: &str) -> Result<Self, SinkError> {
        let server_name = ServerName::try_from(server_name.to_owned()).map_err(|e| {
            SinkError::with_source(
                format!("invalid TLS server name {server_name:?}: give the DNS name or IP address on the server's certificate"),
                e,
            )
        })?;
        Ok(SyslogTls {
            server_name,
            roots: RootCertStore::empty(),
            client: None,
            config: None,
        })
    }

    /// Trusts the certificate authorities in the PEM file at `path`.
    ///
    /// # Errors
    /// The file cannot be read or holds no valid certificate.
    pub fn ca_file(self, path: impl AsRef<Path>) -> Result<Self, SinkError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|e| SinkError::with_source(format!("cannot read CA certificate file {}", path.display()), e))?;
        self.ca_pem(&bytes)
            .map_err(|e| SinkError::new(format!("{} in {}", e.message(), path.display())))
    }

    /// Trusts the certificate authorities in `pem`.
    ///
    /// # Errors
    /// `pem` holds no valid certificate.
    pub fn ca_pem(mut self, pem: &[u8]) -> Result<Self, SinkError> {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert =
                cert.map_err(|e| SinkError::with_source("invalid PEM certificate (expected BEGIN CERTIFICATE)", e))?;
            self.roots
                .add(cert)
                .map_err(|e| SinkError::with_source("unusable CA certificate", e))?;
            added += 1;
        }
        if added == 0 {
            return Err(SinkError::new(
                "no CA certificate found (expected a PEM file with BEGIN CERTIFICATE blocks)",
            ));
        }
        self.config = None;
        Ok(self)
    }

    /// Presents a client certificate (PEM chain and private key files) to
    /// servers that require one.
    ///
    /// # Errors
    /// A file cannot be read or parsed.
    pub fn client_cert(mut self, cert_chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, SinkError> {
        let (cert_chain, key) = (cert_chain.as_ref(), key.as_ref());
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_chain)
            .and_then(|it| it.collect::<Result<_, _>>())
            .map_err(|e| {
                SinkError::with_source(
                    format!("cannot read client certificate chain {}", cert_chain.display()),
                    e,
                )
            })?;
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| SinkError::with_source(format!("cannot read client private key {}", key.display()), e))?;
        self.client = Some((certs, Arc::new(key)));
        self.config = None;
        Ok(self)
    }

    /// Builds the rustls configuration once.
    pub(super) fn prepare(&mut self) -> Result<(), SinkError> {
        if self.config.is_some() {
            return Ok(());
        }
        if self.roots.is_empty() {
            return Err(SinkError::new(
                "no CA certificate to verify the syslog server with: add one with SyslogTls::ca_file",
            ));
        }
        let builder = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| SinkError::with_source("cannot set up TLS", e))?
            .with_root_certificates(self.roots.clone());
        let config = match &self.client {
            Some((certs, key)) => builder
                .with_client_auth_cert(certs.clone(), key.clone_key())
                .map_err(|e| SinkError::with_source("client certificate and key do not match", e))?,
            None => builder.with_no_client_auth(),
        };
        self.config = Some(Arc::new(config));
        Ok(())
    }

    /// Completes a TLS handshake over `sock`.
    pub(super) fn connect(&self, mut sock: TcpStream) -> io::Result<TlsStream> {
        let config = self
            .config
            .clone()
            .ok_or_else(|| io::Error::other("TLS configuration not prepared"))?;
        let mut conn = ClientConnection::new(config, self.server_name.clone()).map_err(io::Error::other)?;
        while conn.is_handshaking() {
            conn.complete_io(&mut sock)?;
        }
        Ok(StreamOwned::new(conn, sock))
    }
}

/// Extension for [`TlsStream`]: whether the server closed the session.
pub(super) trait PeerClosed {
    fn peer_closed(&mut self) -> bool;
}

impl PeerClosed for TlsStream {
    fn peer_closed(&mut self) -> bool {
        if self.sock.set_nonblocking(true).is_err() {
            return true;
        }
        let mut closed = false;
        loop {
            let mut b = [0u8; 1];
            match self.sock.peek(&mut b) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                // Session tickets or a close_notify: let rustls read them.
                Ok(_) => match self.conn.read_tls(&mut self.sock) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(_) => match self.conn.process_new_packets() {
                        Ok(state) if state.peer_has_closed() => {
                            closed = true;
                            break;
                        }
                        Ok(_) => {
                            let mut sink = [0u8; 512];
                            // Discard any application data; a syslog server sends none.
                            while matches!(self.conn.reader().read(&mut sink), Ok(n) if n > 0) {}
                        }
                        Err(_) => {
                            closed = true;
                            break;
                        }
                    },
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        closed = true;
                        break;
                    }
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        self.sock.set_nonblocking(false).is_err() || closed
    }
}
