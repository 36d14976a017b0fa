//! Connecting to an account: TCP with a timeout, implicit TLS or STARTTLS, password or
//! OAuth2 login, and the account as configured.

use super::*;

/// The transport under async-imap: plain TCP (loopback, or before STARTTLS) or TLS.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Conn::Plain(_) => "Conn::Plain",
            Conn::Tls(_) => "Conn::Tls",
        })
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

pub(super) type ImapSession = Session<Conn>;

enum Credentials {
    Password(crate::config::Secret),
    OAuth2(Box<TokenSource>),
}

/// One configured account, ready to connect.
pub struct Account {
    pub cfg: ImapConfig,
    tls: Option<tokio_rustls::TlsConnector>,
    credentials: Credentials,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.cfg.name)
            .finish()
    }
}

/// Why an account cannot be set up: a secret, its OAuth2 endpoint, its TLS settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Password(#[from] crate::config::SecretError),
    #[error("refresh token: {0}")]
    RefreshToken(crate::config::SecretError),
    #[error("no token endpoint: set provider or token_url")]
    NoTokenEndpoint,
    #[error("cannot build an HTTP client: {0}")]
    Http(String),
    #[error("cannot read CA file {}: {why}", path.display())]
    CaFile {
        path: std::path::PathBuf,
        why: String,
    },
    #[error("bad certificate in {}: {why}", path.display())]
    BadCertificate {
        path: std::path::PathBuf,
        why: String,
    },
    #[error("unusable certificate in {}: {why}", path.display())]
    UnusableCertificate {
        path: std::path::PathBuf,
        why: String,
    },
    #[error("no certificate in {}", .0.display())]
    NoCertificate(std::path::PathBuf),
    #[error("cannot set up TLS: {0}")]
    Tls(String),
}

impl Account {
    /// Read the account's secrets and build its TLS settings.
    pub fn new(cfg: &ImapConfig) -> Result<Account, AccountError> {
        let credentials = match &cfg.oauth2 {
            Some(o) => Credentials::OAuth2(Box::new(TokenSource::new(o, cfg.timeout())?)),
            None => Credentials::Password(read_secret(
                cfg.password_env.as_deref(),
                cfg.password_file.as_deref(),
            )?),
        };
        let tls = match cfg.tls {
            TlsMode::None => None,
            _ => Some(tls_connector(cfg.ca_file.as_deref())?),
        };
        Ok(Account {
            cfg: cfg.clone(),
            tls,
            credentials,
        })
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// Keep an OAuth2 account's rotated refresh tokens in `db` (see `oauth`).
    pub fn keep_tokens_in(&self, db: &crate::store::Db) {
        if let Credentials::OAuth2(tokens) = &self.credentials {
            tokens.persist_in(db, &self.cfg.name);
        }
    }

    /// Connect, secure and log in.
    pub async fn connect(&self) -> Result<ImapSession, ImapError> {
        let limit = self.cfg.timeout();
        let addr = format!("{}:{}", self.cfg.host, self.cfg.port());
        let tcp = match tokio::time::timeout(limit, TcpStream::connect(&addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(source)) => return Err(ImapError::Connect { addr, source }),
            Err(_) => {
                return Err(ImapError::Timeout {
                    what: "connect",
                    secs: limit.as_secs(),
                });
            }
        };
        let _ = tcp.set_nodelay(true);
        let stream = match self.cfg.tls {
            TlsMode::Implicit => Conn::Tls(Box::new(self.handshake(tcp).await?)),
            _ => Conn::Plain(tcp),
        };
        let mut client = Client::new(stream);
        let greeting = match tokio::time::timeout(limit, client.read_response()).await {
            Ok(Ok(Some(g))) => g,
            Ok(Ok(None)) => {
                return Err(ImapError::Server(
                    "the server closed the connection before its greeting".into(),
                ));
            }
            Ok(Err(e)) => {
                return Err(ImapError::Protocol {
                    what: "greeting",
                    source: e.into(),
                });
            }
            Err(_) => {
                return Err(ImapError::Timeout {
                    what: "greeting",
                    secs: limit.as_secs(),
                });
            }
        };
        drop(greeting);
        if self.cfg.tls == TlsMode::Starttls {
            timed(
                limit,
                "STARTTLS",
                client.run_command_and_check_ok("STARTTLS", None),
            )
            .await?;
            let Conn::Plain(tcp) = client.into_inner() else {
                unreachable!("STARTTLS starts from plain TCP");
            };
            client = Client::new(Conn::Tls(Box::new(self.handshake(tcp).await?)));
        }
        let user = &self.cfg.username;
        match &self.credentials {
            Credentials::Password(password) => {
                match tokio::time::timeout(limit, client.login(user, password.expose())).await {
                    Ok(Ok(session)) => Ok(session),
                    Ok(Err((async_imap::error::Error::No(why), _))) => Err(ImapError::Auth(
                        format!("the server refused the login of {user}: {}", why.trim()),
                    )),
                    Ok(Err((source, _))) => Err(ImapError::Protocol {
                        what: "LOGIN",
                        source,
                    }),
                    Err(_) => Err(ImapError::Timeout {
                        what: "LOGIN",
                        secs: limit.as_secs(),
                    }),
                }
            }
            Credentials::OAuth2(tokens) => {
                let token = tokens.token().await.map_err(ImapError::Token)?;
                let mut auth = XOAuth2::new(user, token);
                let result =
                    tokio::time::timeout(limit, client.authenticate("XOAUTH2", &mut auth)).await;
                match result {
                    Ok(Ok(session)) => Ok(session),
                    Ok(Err((async_imap::error::Error::No(why), _))) => {
                        // The token may have been revoked or expired early: fetch a new one
                        // next time.
                        tokens.invalidate().await;
                        let detail = auth.error.take().unwrap_or_default();
                        Err(ImapError::Auth(format!(
                            "the server refused the XOAUTH2 token of {user}: {} {detail}",
                            why.trim()
                        )))
                    }
                    Ok(Err((source, _))) => Err(ImapError::Protocol {
                        what: "AUTHENTICATE XOAUTH2",
                        source,
                    }),
                    Err(_) => Err(ImapError::Timeout {
                        what: "AUTHENTICATE XOAUTH2",
                        secs: limit.as_secs(),
                    }),
                }
            }
        }
    }

    async fn handshake(&self, tcp: TcpStream) -> Result<TlsStream<TcpStream>, ImapError> {
        let host = self.cfg.host.trim_start_matches('[').trim_end_matches(']');
        let tls_err = |message: String| ImapError::Tls {
            host: host.to_string(),
            message,
        };
        let connector = self
            .tls
            .as_ref()
            .ok_or_else(|| tls_err("TLS is off for this account".into()))?;
        let name = rustls_pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| tls_err(format!("not a valid server name: {e}")))?;
        match tokio::time::timeout(self.cfg.timeout(), connector.connect(name, tcp)).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(tls_err(e.to_string())),
            Err(_) => Err(ImapError::Timeout {
                what: "TLS handshake",
                secs: self.cfg.timeout().as_secs(),
            }),
        }
    }

    /// The folders to read: the configured ones, else INBOX and the Sent folder. A folder is
    /// a Sent folder when the server marks it `\Sent` or by its name; in the others a team
    /// From must be proven (`normalize::sender`).
    pub async fn folders(&self, session: &mut ImapSession) -> Result<Vec<Folder>, ImapError> {
        let limit = self.cfg.timeout();
        let listed: Result<Vec<(String, bool)>, ImapError> = timed(limit, "LIST", async {
            let stream = session.list(Some(""), Some("*")).await?;
            let names: Vec<_> = stream.collect().await;
            let mut out = Vec::new();
            for n in names {
                let n = n?;
                let sent = n
                    .attributes()
                    .iter()
                    .any(|a| matches!(a, async_imap::types::NameAttribute::Sent));
                out.push((n.name().to_string(), sent));
            }
            Ok(out)
        })
        .await;
        if !self.cfg.folders.is_empty() {
            // The configured folders; the server's \Sent marks when it can list them.
            let marked: Vec<String> = listed
                .unwrap_or_default()
                .into_iter()
                .filter(|(_, sent)| *sent)
                .map(|(wire, _)| utf7::decode(&wire))
                .collect();
            return Ok(self
                .cfg
                .folders
                .iter()
                .map(|name| Folder {
                    name: name.clone(),
                    wire: utf7::encode(name),
                    sent: marked.contains(name) || crate::source::is_sent_name(name),
                })
                .collect());
        }
        let listed = listed?;
        let mut folders = vec![Folder {
            name: "INBOX".into(),
            wire: "INBOX".into(),
            sent: false,
        }];
        let sent = listed.iter().find(|(_, sent)| *sent).or_else(|| {
            crate::source::SENT_NAMES.iter().find_map(|want| {
                listed
                    .iter()
                    .find(|(wire, _)| utf7::decode(wire).eq_ignore_ascii_case(want))
            })
        });
        match sent {
            Some((wire, _)) => folders.push(Folder {
                name: utf7::decode(wire),
                wire: wire.clone(),
                sent: true,
            }),
            None => warn!(
                account = %self.cfg.name,
                "No Sent folder found (no \\Sent mark, no usual name): reading INBOX only. List the folders in imap.folders."
            ),
        }
        Ok(folders)
    }
}

/// A TLS client setup trusting the Mozilla roots and, when given, a company CA file.
fn tls_connector(
    ca_file: Option<&std::path::Path>,
) -> Result<tokio_rustls::TlsConnector, AccountError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path).map_err(|e| AccountError::CaFile {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
        let mut n = 0;
        for cert in certs {
            let cert = cert.map_err(|e| AccountError::BadCertificate {
                path: path.to_path_buf(),
                why: e.to_string(),
            })?;
            roots
                .add(cert)
                .map_err(|e| AccountError::UnusableCertificate {
                    path: path.to_path_buf(),
                    why: e.to_string(),
                })?;
            n += 1;
        }
        if n == 0 {
            return Err(AccountError::NoCertificate(path.to_path_buf()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AccountError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}
