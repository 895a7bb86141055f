//! TLS for stream outputs (syslog over TLS, RFC 5425): the client settings (CA file,
//! client certificate and key, server name) validated into a rustls configuration
//! before anything runs, and a connect that completes the handshake at once, so a
//! certificate the receiver does not trust, or a receiver bridgewatch does not trust,
//! fails there with rustls's reason rather than on some later write.
//!
//! Every problem with a settings file names the file.  Without a CA file the
//! receiver is checked against the Mozilla roots (`webpki-roots`), as the HTTP
//! output's are.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The TLS settings as given (flags or a config file).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM file of the CA certificates the receiver's certificate must chain to.
    pub ca: Option<PathBuf>,
    /// PEM file of the client certificate (chain), for receivers that ask for one.
    pub cert: Option<PathBuf>,
    /// PEM file of the client certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// The name the receiver's certificate must carry (default: the URL's host).
    pub server_name: Option<String>,
}

/// A validated TLS client: what [`connect`] needs.
#[derive(Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// An established TLS stream over TCP.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{what} {}: {e}", path.display()))
}

impl TlsSettings {
    /// Loads the files and builds the client.  `host` is the URL's host, the server
    /// name unless [`TlsSettings::server_name`] says otherwise.
    pub fn client(&self, host: &str) -> Result<TlsClient, String> {
        let mut roots = RootCertStore::empty();
        match &self.ca {
            Some(ca) => {
                let pem = read(ca, "CA file")?;
                let mut n = 0;
                for c in CertificateDer::pem_slice_iter(&pem) {
                    let c = c.map_err(|e| format!("CA file {}: {e}", ca.display()))?;
                    roots
                        .add(c)
                        .map_err(|e| format!("CA file {}: {e}", ca.display()))?;
                    n += 1;
                }
                if n == 0 {
                    return Err(format!(
                        "CA file {}: no PEM certificate in it",
                        ca.display()
                    ));
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots);
        let config = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                let pem = read(cert, "client certificate")?;
                let chain = CertificateDer::pem_slice_iter(&pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("client certificate {}: {e}", cert.display()))?;
                if chain.is_empty() {
                    return Err(format!(
                        "client certificate {}: no PEM certificate in it",
                        cert.display()
                    ));
                }
                let pem = read(key, "client key")?;
                let k = PrivateKeyDer::from_pem_slice(&pem)
                    .map_err(|e| format!("client key {}: {e}", key.display()))?;
                builder
                    .with_client_auth_cert(chain, k)
                    .map_err(|e| format!("client key {}: {e}", key.display()))?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => return Err("a client certificate needs both its certificate and its key".into()),
        };
        let name = self.server_name.as_deref().unwrap_or(host);
        // `[::1]` in a URL is the address ::1.
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(bare.to_string())
            .map_err(|e| format!("server name {name:?}: {e}"))?;
        Ok(TlsClient {
            config: Arc::new(config),
            server_name,
        })
    }
}

/// Connects to `to` and completes the TLS handshake within `timeout`.
pub fn connect(
    client: &TlsClient,
    to: SocketAddr,
    timeout: Duration,
) -> std::io::Result<TlsStream> {
    let mut tcp = TcpStream::connect_timeout(&to, timeout)?;
    tcp.set_write_timeout(Some(timeout))?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_nodelay(true)?;
    let mut conn = ClientConnection::new(client.config.clone(), client.server_name.clone())
        .map_err(std::io::Error::other)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)
            .map_err(|e| std::io::Error::new(e.kind(), format!("TLS handshake failed: {e}")))?;
    }
    let mut s = StreamOwned::new(conn, tcp);
    refused_after_handshake(&mut s)?;
    Ok(s)
}

/// How long [`connect`] listens for a refusal right after the handshake.
const REFUSAL_WAIT: Duration = Duration::from_millis(300);

/// In TLS 1.3 the client's handshake is over before the server has checked the
/// client's certificate: a receiver that demands one (rsyslog's `x509/certvalid`)
/// refuses with an alert only after that, and writes made meanwhile would be lost
/// without an error.  So listen briefly: an alert or a close is a failed connect;
/// silence (the usual case) is a receiver that took us.
fn refused_after_handshake(s: &mut TlsStream) -> std::io::Result<()> {
    use std::io::{ErrorKind, Read};
    let old = s.sock.read_timeout()?;
    s.sock.set_read_timeout(Some(REFUSAL_WAIT))?;
    let mut buf = [0u8; 512];
    let r = s.read(&mut buf);
    s.sock.set_read_timeout(old)?;
    match r {
        Ok(0) => Err(std::io::Error::new(
            ErrorKind::ConnectionAborted,
            "the receiver closed the TLS connection after the handshake (does it require a client certificate?)",
        )),
        // A syslog receiver sends nothing; whatever it did send is not ours to read.
        Ok(_) => Ok(()),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(()),
        Err(e) => Err(std::io::Error::new(
            e.kind(),
            format!("the receiver refused the TLS connection: {e}"),
        )),
    }
}

/// The host part of `HOST:PORT` (`[::1]:6514` → `[::1]`).
pub fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let missing = dir.path().join("missing.pem");
        let e = TlsSettings {
            ca: Some(missing.clone()),
            ..Default::default()
        }
        .client("h")
        .unwrap_err();
        assert!(e.contains("CA file") && e.contains("missing.pem"), "{e}");
        let e = TlsSettings {
            ca: Some(junk.clone()),
            ..Default::default()
        }
        .client("h")
        .unwrap_err();
        assert!(
            e.contains("junk.pem") && e.contains("no PEM certificate"),
            "{e}"
        );
        let e = TlsSettings {
            cert: Some(junk.clone()),
            ..Default::default()
        }
        .client("h")
        .unwrap_err();
        assert!(e.contains("both"), "{e}");
        let e = TlsSettings {
            cert: Some(junk.clone()),
            key: Some(junk),
            ..Default::default()
        }
        .client("h")
        .unwrap_err();
        assert!(e.contains("client certificate"), "{e}");
        let e = TlsSettings {
            server_name: Some("bad name!".into()),
            ..Default::default()
        }
        .client("h")
        .unwrap_err();
        assert!(e.contains("server name"), "{e}");
    }

    #[test]
    fn the_server_name_defaults_to_the_host_and_ip_literals_work() {
        let c = TlsSettings::default().client("[::1]").unwrap();
        assert_eq!(c.server_name, ServerName::try_from("::1").unwrap());
        let c = TlsSettings {
            server_name: Some("syslog.example".into()),
            ..Default::default()
        }
        .client("127.0.0.1")
        .unwrap();
        assert_eq!(c.server_name.to_str(), "syslog.example");
        assert_eq!(host_of("[::1]:6514"), "[::1]");
        assert_eq!(host_of("h:1"), "h");
    }
}
