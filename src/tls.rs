//! TLS for the API (rustls, no OpenSSL): the server's configuration from `[api]`
//! `tls_cert_file` / `tls_key_file` / `client_ca_file`, a listener that hands
//! [`axum::serve`] finished handshakes, and the CLI's client configuration. Below config,
//! api and cli, which all use it; it uses nothing of this crate.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tracing::debug;

/// A TLS file that cannot be used; the message names the key and the file.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {file}: {why}")]
pub struct TlsError {
    /// The configuration key (or CLI option).
    pub key: &'static str,
    /// The file.
    pub file: String,
    /// What is wrong with it.
    pub why: String,
}

fn err(key: &'static str, file: &str, why: impl ToString) -> TlsError {
    TlsError {
        key,
        file: file.to_string(),
        why: why.to_string(),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn certs(key: &'static str, file: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(file)
        .map_err(|e| err(key, file, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(key, file, e))?;
    if certs.is_empty() {
        return Err(err(key, file, "no PEM certificate in it"));
    }
    Ok(certs)
}

fn private_key(key: &'static str, file: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(file).map_err(|e| err(key, file, format!("no PEM private key: {e}")))
}

fn roots(key: &'static str, file: &str) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in certs(key, file)? {
        roots.add(c).map_err(|e| err(key, file, e))?;
    }
    Ok(roots)
}

/// The server's configuration: its certificate chain and key, and — with a client CA — every
/// client must present a certificate that CA signed (mutual TLS).
pub fn server_config(cert_file: &str, key_file: &str, client_ca: Option<&str>) -> Result<ServerConfig, TlsError> {
    let chain = certs("api.tls_cert_file", cert_file)?;
    let key = private_key("api.tls_key_file", key_file)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| err("api.tls_cert_file", cert_file, e))?;
    let builder = match client_ca {
        Some(ca) => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots("api.client_ca_file", ca)?),
                provider(),
            )
            .build()
            .map_err(|e| err("api.client_ca_file", ca, e))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder.with_single_cert(chain, key).map_err(|e| {
        err(
            "api.tls_key_file",
            key_file,
            format!("does not match the certificate: {e}"),
        )
    })?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// The CLI's configuration: the CA that signed the manager's certificate (default: the
/// system's roots), and a client certificate for a manager that asks for one.
pub fn client_config(ca: Option<&str>, cert: Option<&str>, key: Option<&str>) -> Result<ClientConfig, TlsError> {
    let roots = match ca {
        Some(ca) => roots("--ca-file", ca)?,
        None => {
            let mut r = RootCertStore::empty();
            for c in rustls_native_certs::load_native_certs().certs {
                let _ = r.add(c);
            }
            r
        }
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| err("--ca-file", ca.unwrap_or("system roots"), e))?
        .with_root_certificates(roots);
    match (cert, key) {
        (Some(c), Some(k)) => builder
            .with_client_auth_cert(certs("--cert-file", c)?, private_key("--key-file", k)?)
            .map_err(|e| err("--key-file", k, format!("does not match the certificate: {e}"))),
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(c), None) => Err(err("--key-file", c, "--cert-file needs --key-file")),
        (None, Some(k)) => Err(err("--cert-file", k, "--key-file needs --cert-file")),
    }
}

/// How long a client has for its handshake: a stalled one holds nothing but its own task.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A listener whose connections are TLS sessions. Handshakes run in their own tasks, so a
/// slow or silent client delays nobody; failed ones are logged and dropped.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accept on `tcp` with `config`.
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // out of file descriptors and the like: pause rather than spin
                        debug!("API accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => debug!(peer = %peer, "API TLS handshake refused: {e}"),
                        Err(_) => debug!(peer = %peer, "API TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // the acceptor task ended: serve nothing more, without spinning
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
