//! A throwaway Dovecot 2.3 (Debian's dovecot-imapd) for IMAP tests: its own config, mail and
//! runtime directories under a temp dir, listening on free loopback ports, started as `nobody`
//! when the tests run as root (Dovecot refuses root). Missing Dovecot fails the test: CI
//! installs it (scripts/test).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What to switch on.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Listen with implicit TLS too (and offer STARTTLS on the plain port).
    pub tls: bool,
    /// XOAUTH2 through an introspection endpoint on this loopback port.
    pub oauth_introspection_port: Option<u16>,
    /// Leave IDLE out of the advertised capabilities.
    pub no_idle: bool,
    /// Extra users `m01@example.test` ... (password `mailpw`), besides alice and bob.
    pub users: usize,
}

pub struct Dovecot {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub tls_port: u16,
    options: Options,
    child: Option<Child>,
    /// uid/gid Dovecot and its files run as.
    owner: Option<(u32, u32)>,
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn user_name_of(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.get(2) == Some(&uid.to_string().as_str())).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| "nobody".into())
}

fn group_name_of(gid: u32) -> String {
    std::fs::read_to_string("/etc/group")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.get(2) == Some(&gid.to_string().as_str())).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| "nogroup".into())
}

fn my_ids() -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata("/proc/self").unwrap();
    (m.uid(), m.gid())
}

impl Dovecot {
    /// Start with users `alice@example.test` / `alicepw` and `bob@example.test` / `bobpw`.
    pub fn start(options: Options) -> Dovecot {
        assert!(
            Command::new("dovecot").arg("--version").output().is_ok(),
            "dovecot is not installed: the IMAP tests need Debian's dovecot-imapd (scripts/test installs it)"
        );
        let dir = tempfile::tempdir().unwrap();
        let owner = running_as_root().then_some((65534, 65534));
        for sub in ["run", "state", "mail", "home"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let mut d = Dovecot {
            dir,
            port: 0,
            tls_port: 0,
            options,
            child: None,
            owner,
        };
        let mut passwd =
            "alice@example.test:{PLAIN}alicepw::::::\nbob@example.test:{PLAIN}bobpw::::::\n"
                .to_string();
        for i in 1..=d.options.users {
            passwd.push_str(&format!("{}:{{PLAIN}}mailpw::::::\n", user(i)));
        }
        std::fs::write(d.path("passwd"), passwd).unwrap();
        if d.options.tls {
            d.make_certificates();
        }
        if let Some(port) = d.options.oauth_introspection_port {
            std::fs::write(
                d.path("oauth2.conf.ext"),
                format!(
                    "introspection_mode = post\nintrospection_url = http://127.0.0.1:{port}/introspect\nusername_attribute = email\nactive_attribute = active\nactive_value = true\n"
                ),
            )
            .unwrap();
        }
        d.launch(true);
        d
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The CA certificate clients should trust (TLS only).
    pub fn ca_file(&self) -> PathBuf {
        self.path("ca.pem")
    }

    fn make_certificates(&self) {
        let d = self.dir.path();
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .expect("openssl is needed for the TLS tests");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        std::fs::write(
            d.join("ca.ext"),
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
        )
        .unwrap();
        std::fs::write(
            d.join("leaf.ext"),
            "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n",
        )
        .unwrap();
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=keepwarm test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ]);
    }

    fn config(&self) -> String {
        let dir = self.dir.path().display().to_string();
        let (uid, gid) = self.owner.unwrap_or_else(my_ids);
        let (user, group) = (user_name_of(uid), group_name_of(gid));
        let mut c = format!(
            r#"instance_name = kwtest-{port}
base_dir = {dir}/run
state_dir = {dir}/state
protocols = imap
listen = 127.0.0.1
disable_plaintext_auth = no
login_trusted_networks = 127.0.0.0/8
auth_failure_delay = 0
log_path = {dir}/dovecot.log
info_log_path = {dir}/dovecot.log
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = {uid}
first_valid_gid = {gid}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/home/%u
}}
mail_location = maildir:{dir}/mail/%u
mail_fsync = never
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \Sent
    auto = subscribe
  }}
  mailbox Drafts {{
    special_use = \Drafts
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \Trash
    auto = subscribe
  }}
}}
default_process_limit = 400
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  chroot =
}}
"#,
            port = self.port
        );
        if let Some(_port) = self.options.oauth_introspection_port {
            c.push_str(&format!(
                r#"auth_mechanisms = plain login xoauth2 oauthbearer
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {dir}/oauth2.conf.ext
}}
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {dir}/passwd
}}
"#
            ));
        } else {
            c.push_str(&format!(
                "auth_mechanisms = plain login\npassdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {dir}/passwd\n}}\n"
            ));
        }
        if self.options.no_idle {
            c.push_str("imap_capability = IMAP4rev1 LITERAL+ SASL-IR UIDPLUS ENABLE NAMESPACE SPECIAL-USE\n");
        }
        if self.options.tls {
            c.push_str(&format!(
                "ssl = yes\nssl_cert = <{dir}/server.pem\nssl_key = <{dir}/server.key\n"
            ));
        } else {
            c.push_str("ssl = no\n");
        }
        c.push_str(&format!(
            "service imap-login {{\n  chroot =\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {}\n  }}\n  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {}\n    ssl = yes\n  }}\n}}\n",
            self.port,
            if self.options.tls { self.tls_port } else { 0 }
        ));
        c
    }

    fn chown_all(&self) {
        let Some((uid, gid)) = self.owner else {
            return;
        };
        fn walk(p: &Path, uid: u32, gid: u32) {
            let _ = std::os::unix::fs::chown(p, Some(uid), Some(gid));
            if p.is_dir()
                && let Ok(rd) = std::fs::read_dir(p)
            {
                for e in rd.flatten() {
                    walk(&e.path(), uid, gid);
                }
            }
        }
        walk(self.dir.path(), uid, gid);
    }

    /// Start the server; with `new_ports`, on fresh ports (retrying when a port is taken).
    fn launch(&mut self, new_ports: bool) {
        for _attempt in 0..5 {
            if new_ports {
                self.port = super::free_port();
                self.tls_port = super::free_port();
            }
            std::fs::write(self.path("dovecot.conf"), self.config()).unwrap();
            self.chown_all();
            // As root: drop to the owner with setpriv (util-linux), supplementary groups cleared.
            let mut cmd = match self.owner {
                Some((uid, gid)) => {
                    let mut c = Command::new("setpriv");
                    c.args([
                        format!("--reuid={uid}"),
                        format!("--regid={gid}"),
                        "--clear-groups".into(),
                        "dovecot".into(),
                    ]);
                    c
                }
                None => Command::new("dovecot"),
            };
            cmd.args(["-F", "-c"])
                .arg(self.path("dovecot.conf"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let mut child = cmd.spawn().expect("cannot start dovecot");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    let mut err = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        let _ = e.read_to_string(&mut err);
                    }
                    if new_ports && err.contains("Address already in use") {
                        break;
                    }
                    panic!("dovecot exited with {status}: {err}");
                }
                if let Ok(s) = TcpStream::connect(("127.0.0.1", self.port)) {
                    let mut line = String::new();
                    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                    if BufReader::new(s).read_line(&mut line).is_ok() && line.starts_with("* OK") {
                        self.child = Some(child);
                        return;
                    }
                }
                assert!(
                    Instant::now() < deadline,
                    "dovecot did not greet within 10 s; log: {}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("could not find free ports for dovecot");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("dovecot.log")).unwrap_or_default()
    }

    /// Stop the server (SIGTERM, wait).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("sh")
                .args(["-c", &format!("kill -TERM {}", child.id())])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start again on the same ports. The old IMAP processes notice their master is gone
    /// within about a second: wait that out so no old connection keeps working.
    pub fn restart(&mut self) {
        // An IMAP process in the middle of a FETCH outlives its master: drop the clients first,
        // as a real restart with `shutdown_clients = yes` does.
        if self.child.is_some() {
            for user in ["alice@example.test", "bob@example.test"] {
                self.kick(user);
            }
        }
        self.stop();
        std::thread::sleep(Duration::from_millis(1500));
        self.launch(false);
    }

    /// Drop every IMAP connection of `user` (`doveadm kick`).
    pub fn kick(&self, user: &str) {
        let out = Command::new("doveadm")
            .arg("-c")
            .arg(self.path("dovecot.conf"))
            .args(["kick", user])
            .output()
            .unwrap();
        // Exit code 68 (EX_NOUSER): nobody was connected.
        assert!(
            out.status.success() || out.status.code() == Some(68),
            "doveadm kick: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A user's Maildir folder ("" for INBOX, "Sent" for Sent).
    pub fn maildir(&self, user: &str, folder: &str) -> PathBuf {
        let base = self.path("mail").join(user);
        if folder.is_empty() || folder == "INBOX" {
            base
        } else {
            base.join(format!(".{folder}"))
        }
    }

    /// Put messages straight into a folder's Maildir (fast, for large mailboxes; Dovecot
    /// assigns UIDs when it next looks). Files get `mtime` = `date` (Unix seconds) so the
    /// INTERNALDATE is that date.
    pub fn drop_messages(&self, user: &str, folder: &str, messages: &[(i64, Vec<u8>)]) {
        let dir = self.maildir(user, folder);
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        for (i, (date, raw)) in messages.iter().enumerate() {
            let name = format!("{date}.M{i}P1.kwtest,S={}:2,", raw.len());
            let path = dir.join("cur").join(name);
            std::fs::write(&path, raw).unwrap();
            let t = std::time::UNIX_EPOCH + Duration::from_secs(*date as u64);
            let f = std::fs::File::options().write(true).open(&path).unwrap();
            f.set_modified(t).unwrap();
        }
        self.chown_all();
    }

    /// Forget every UID of a folder (Dovecot must be stopped): the next start gives the folder
    /// a new UIDVALIDITY.
    pub fn reset_uids(&self, user: &str, folder: &str) {
        let dir = self.maildir(user, folder);
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with("dovecot-uidlist") || name.starts_with("dovecot.index") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// Log in as a client and run a few commands (tests use it to APPEND and to look at flags).
    pub fn client(&self, user: &str, password: &str) -> ImapClient {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut c = ImapClient {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            tag: 0,
        };
        let mut greeting = String::new();
        c.reader.read_line(&mut greeting).unwrap();
        c.command(&format!("LOGIN \"{user}\" \"{password}\""));
        c
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A minimal synchronous IMAP client for test setup.
pub struct ImapClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    tag: u32,
}

impl ImapClient {
    /// Run a command; returns the untagged lines. Panics on NO/BAD.
    pub fn command(&mut self, cmd: &str) -> Vec<String> {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        write!(self.writer, "{tag} {cmd}\r\n").unwrap();
        self.finish(&tag)
    }

    fn finish(&mut self, tag: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            assert!(!line.is_empty(), "connection closed");
            if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                assert!(rest.starts_with("OK"), "{tag}: {line}");
                return lines;
            }
            lines.push(line);
        }
    }

    /// APPEND a message (with an optional internal date such as `"01-Jan-2020 10:00:00 +0000"`).
    pub fn append(&mut self, folder: &str, raw: &[u8], date: Option<&str>) {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        let date = date.map(|d| format!(" \"{d}\"")).unwrap_or_default();
        write!(
            self.writer,
            "{tag} APPEND \"{folder}\"{date} {{{}+}}\r\n",
            raw.len()
        )
        .unwrap();
        self.writer.write_all(raw).unwrap();
        self.writer.write_all(b"\r\n").unwrap();
        self.finish(&tag);
    }

    pub fn logout(mut self) {
        let _ = write!(self.writer, "z LOGOUT\r\n");
    }
}

/// A plain RFC 5322 message.
/// The name of extra user `i` (1-based): `m01@example.test`.
pub fn user(i: usize) -> String {
    format!("m{i:02}@example.test")
}

pub fn message(
    from: &str,
    to: &str,
    subject: &str,
    message_id: &str,
    date: &str,
    body: &str,
) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\nDate: {date}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}
