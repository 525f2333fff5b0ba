//! Real TLS for the tests (rustls with the ring provider): a throw-away certificate
//! authority, TLS backend servers that present a certificate of their own and report what
//! they saw, and a TLS client that verifies the server it reached.
//!
//! The balancer never terminates TLS in these tests: it reads the ClientHello and forwards
//! the bytes, so a completed handshake proves that client and server talked end to end.

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

use crate::backend::Backend;
use crate::client::connect;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate authority made for one test: issues a certificate per server name.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestCa")
    }
}

/// Which TLS versions a test client offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3 (the client's default).
    Any,
    /// TLS 1.2 only (a ClientHello without the supported_versions extension).
    Tls12,
}

impl TestCa {
    /// A fresh CA with its own key.
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "lb-tests throw-away CA");
        let key = KeyPair::generate().expect("CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("CA certificate");
        Self { issuer }
    }

    /// A certificate for `dns_names` signed by this CA, with its private key.
    pub fn leaf(&self, dns_names: &[&str]) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().expect("leaf key");
        let names: Vec<String> = dns_names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        params.distinguished_name.push(
            DnType::CommonName,
            dns_names.first().copied().unwrap_or("-"),
        );
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        let der = PrivatePkcs8KeyDer::from(key.serialize_der());
        (cert.der().clone(), PrivateKeyDer::Pkcs8(der))
    }

    /// A client configuration trusting only this CA; `sni` says whether the client sends
    /// the server name extension.
    pub fn client_config(&self, sni: bool, version: TlsVersion) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.issuer.der().clone()).expect("trust the CA");
        let builder = ClientConfig::builder_with_provider(provider());
        let builder = match version {
            TlsVersion::Any => builder.with_safe_default_protocol_versions(),
            TlsVersion::Tls12 => builder.with_protocol_versions(&[&rustls::version::TLS12]),
        }
        .expect("protocol versions");
        let mut cfg = builder.with_root_certificates(roots).with_no_client_auth();
        cfg.enable_sni = sni;
        Arc::new(cfg)
    }

    /// A TLS server named `name` presenting a certificate for `cert_names`. After the
    /// handshake it writes `NAME sni=SNI\n` (SNI `-` when the client sent none), then echoes
    /// the decrypted data.
    pub fn backend(&self, name: &str, cert_names: &[&str]) -> Backend {
        let (cert, key) = self.leaf(cert_names);
        let cfg = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .expect("server certificate");
        let cfg = Arc::new(cfg);
        Backend::custom(name, move |tcp: TcpStream, name: &str| {
            let Ok(conn) = ServerConnection::new(Arc::clone(&cfg)) else {
                return;
            };
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            // Drive the handshake to its end before asking for the SNI.
            while tls.conn.is_handshaking() {
                if tls.conn.complete_io(&mut tls.sock).is_err() {
                    return;
                }
            }
            let sni = tls.conn.server_name().unwrap_or("-").to_owned();
            if tls
                .write_all(format!("{name} sni={sni}\n").as_bytes())
                .is_err()
            {
                return;
            }
            let mut buf = [0u8; 16 * 1024];
            loop {
                match tls.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tls.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
        })
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

/// A TLS client connection made through `port`, already past its handshake.
pub type TlsStream = rustls::StreamOwned<ClientConnection, TcpStream>;

/// A TCP stream whose first write is sent in two pieces, `first` bytes then the rest,
/// with a pause between them: a ClientHello split across TCP segments.
#[derive(Debug)]
pub struct SplitFirstWrite {
    /// The connection.
    pub tcp: TcpStream,
    first: Option<usize>,
    pause: std::time::Duration,
}

impl SplitFirstWrite {
    /// Wraps `tcp`; the first write is cut after `first` bytes.
    pub fn new(tcp: TcpStream, first: usize, pause: std::time::Duration) -> Self {
        Self {
            tcp,
            first: Some(first),
            pause,
        }
    }
}

impl Read for SplitFirstWrite {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.read(buf)
    }
}

impl Write for SplitFirstWrite {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.first.take() {
            Some(cut) if cut < buf.len() => {
                self.tcp.write_all(&buf[..cut])?;
                self.tcp.flush()?;
                std::thread::sleep(self.pause);
                self.tcp.write_all(&buf[cut..])?;
                Ok(buf.len())
            }
            _ => self.tcp.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// Like [`tls_hello`], but the ClientHello reaches the balancer in two TCP segments: its
/// first `first` bytes, then the rest after `pause`.
pub fn tls_hello_split(
    port: u16,
    cfg: &Arc<ClientConfig>,
    verify_name: &str,
    first: usize,
    pause: std::time::Duration,
) -> io::Result<String> {
    let tcp = SplitFirstWrite::new(connect(port)?, first, pause);
    let name = ServerName::try_from(verify_name.to_owned())
        .map_err(|e| io::Error::new(ErrorKind::InvalidInput, e))?;
    let conn = ClientConnection::new(Arc::clone(cfg), name).map_err(io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    first_line(&mut tls)
}

/// Reads one `\n`-terminated line (at most 4 KiB) from a TLS stream.
fn first_line(tls: &mut impl Read) -> io::Result<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match tls.read(&mut b)? {
            0 => {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!("EOF after {:?}", String::from_utf8_lossy(&line)),
                ));
            }
            _ if b[0] == b'\n' => break,
            _ if line.len() > 4096 => {
                return Err(io::Error::new(ErrorKind::InvalidData, "line too long"));
            }
            _ => line.push(b[0]),
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// Connects to `127.0.0.1:port`, runs a TLS handshake verifying the server certificate
/// against `verify_name` (sent as SNI if `cfg` enables it) and returns the stream with the
/// first line the server wrote. Any TLS failure (wrong certificate, reset...) is an error.
pub fn tls_hello(
    port: u16,
    cfg: &Arc<ClientConfig>,
    verify_name: &str,
) -> io::Result<(TlsStream, String)> {
    let tcp = connect(port)?;
    let name = ServerName::try_from(verify_name.to_owned())
        .map_err(|e| io::Error::new(ErrorKind::InvalidInput, e))?;
    let conn = ClientConnection::new(Arc::clone(cfg), name).map_err(io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let line = first_line(&mut tls)?;
    Ok((tls, line))
}

/// Echo round trip over an established TLS stream: writes `msg` and reads it back.
pub fn tls_echo(tls: &mut TlsStream, msg: &[u8]) -> io::Result<Vec<u8>> {
    tls.write_all(msg)?;
    tls.flush()?;
    let mut back = vec![0u8; msg.len()];
    tls.read_exact(&mut back)?;
    Ok(back)
}
