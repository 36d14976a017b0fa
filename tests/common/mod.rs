//! Shared test harness: a real Dovecot, and a keepwarm workspace (config, database) driven
//! through the binary.

#![allow(dead_code)]
// The harness waits in plain threads (servers starting, a receiver's scripted delays), not
// in async code: blocking sleeps are what it means there.
#![allow(clippy::disallowed_methods)]

pub mod browser;
pub mod db;
pub mod dovecot;
pub mod receiver;
pub mod schema;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// A directory with a `keepwarm.toml` and its database (SQLite in the directory, or a fresh
/// PostgreSQL database on the PostgreSQL pass).
pub struct Workspace {
    pub dir: tempfile::TempDir,
    pub db: db::TestDb,
}

pub const CUSTOMERS: &str = "id,name,group,tier,owner,emails,domains,phones,country\n\
C1,Lagos Trading Ltd,,vip,alice,buyer@lagostrade.example,lagostrade.example,,NG\n\
C2,Andes Import SA,,repeat,alice,compras@andes.example,andes.example,,PE\n";

impl Workspace {
    /// A workspace whose config is `[team]` + rep alice + `extra` (the `[[imap]]` tables).
    pub fn new(extra: &str) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let w = Workspace {
            dir,
            db: db::TestDb::fresh(),
        };
        w.write_config(extra);
        std::fs::write(w.path("customers.csv"), CUSTOMERS).unwrap();
        let out = w.run(&["customers", "import", "customers.csv"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        w
    }

    /// A workspace with the team's domain and `extra` in its config, and nothing else: no rep,
    /// no customers (the core commands' tests start from that).
    pub fn bare(extra: &str) -> Workspace {
        let w = Workspace {
            dir: tempfile::tempdir().unwrap(),
            db: db::TestDb::fresh(),
        };
        w.write_bare_config(extra);
        w
    }

    /// Replace the config with the bare one plus `extra`.
    pub fn write_bare_config(&self, extra: &str) {
        std::fs::write(
            self.path("keepwarm.toml"),
            format!(
                "[database]\nurl = \"sqlite://kw.db\"\n[team]\ndomains = [\"sinoexport.example\"]\n{extra}"
            ),
        )
        .unwrap();
    }

    pub fn write_config(&self, extra: &str) {
        std::fs::write(
            self.path("keepwarm.toml"),
            format!(
                "[database]\nurl = \"sqlite://kw.db\"\n[team]\ndomains = [\"sinoexport.example\"]\n[[reps]]\nid = \"alice\"\nemails = [\"alice@sinoexport.example\"]\n{extra}"
            ),
        )
        .unwrap();
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_keepwarm"));
        // The config is the workspace's `keepwarm.toml`, found in the working directory (a
        // test may name another with `--config`).
        c.args(args)
            .current_dir(self.dir.path())
            .env_remove("KEEPWARM_CONFIG")
            .env("ALICE_PW", "alicepw")
            .env("WRONG_PW", "not-the-password")
            .env("KW_REFRESH", "refresh-1")
            .env("WA_SECRET", "test-app-secret")
            .env("WA_VERIFY", "verify-me")
            .env("KW_API_TOKENS", "tok-1,tok-2")
            .env("RUST_LOG", "keepwarm=info");
        self.db.apply(&mut c);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Run and require success.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "keepwarm {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn spawn(&self, args: &[&str]) -> Running {
        self.spawn_with_env(args, &[])
    }

    /// `spawn` with extra environment variables.
    pub fn spawn_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut command = self.command(args);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                log2.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        Running {
            child,
            lines: rx,
            log,
        }
    }

    /// Ingest mails through a fresh Maildir `name` (one `keepwarm ingest` process: a restart
    /// each time).
    pub fn ingest_mails(&self, name: &str, mails: &[String]) {
        let dir = self.path(name);
        std::fs::create_dir_all(dir.join("cur")).unwrap();
        std::fs::create_dir_all(dir.join("new")).unwrap();
        for (i, m) in mails.iter().enumerate() {
            std::fs::write(dir.join("cur").join(format!("{i:04}.eml:2,S")), m).unwrap();
        }
        self.ok(&["ingest", "maildir", dir.to_str().unwrap()]);
    }

    /// Add a user through the CLI: a rep of `[[reps]]` id `rep`, or a manager when `rep` is empty.
    pub fn add_user(&self, login: &str, rep: &str, password: &str) {
        let mut args = vec!["users", "add", login, "--password-stdin"];
        if rep.is_empty() {
            args.extend(["--role", "manager"]);
        } else {
            args.extend(["--role", "rep", "--rep", rep]);
        }
        let mut c = self.command(&args);
        c.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null());
        let mut child = c.spawn().unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
    }

    /// The outbox's events of `kind`, oldest first.
    pub fn events(&self, kind: &str) -> Vec<serde_json::Value> {
        self.ok(&[
            "outbox", "list", "--kind", kind, "--limit", "10000", "--format", "jsonl",
        ])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
    }

    /// `keepwarm customers show ID --format json`, parsed.
    pub fn customer(&self, id: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["customers", "show", id, "--format", "json"])).unwrap()
    }

    /// `keepwarm messages --format jsonl`, parsed.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        self.ok(&["messages", "--format", "jsonl"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The keys of the stored messages, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self
            .messages()
            .iter()
            .map(|m| m["key"].as_str().unwrap().to_string())
            .collect();
        k.sort();
        k
    }

    /// `keepwarm status --format json`, parsed.
    pub fn status(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.ok(&["status", "--format", "json"])).unwrap()
    }

    /// `SELECT COUNT(*) FROM <table and condition>` straight from the database (sightings and
    /// raw columns are not in any command's output).
    pub fn count(&self, table: &str) -> i64 {
        self.db.count(self.dir.path(), table)
    }

    /// Run SQL straight on the workspace's database.
    pub fn exec(&self, sql: &str) {
        self.db.exec(self.dir.path(), sql)
    }

    /// The first column of a query's rows, as text.
    pub fn column(&self, sql: &str) -> Vec<String> {
        self.db.column(self.dir.path(), sql)
    }

    /// Make the real database refuse (with an error) any message whose body contains
    /// `marker`: a trigger stands for a row the database cannot take for a reason nobody
    /// foresaw, a fault no input produces on demand once every known one is fixed.
    pub fn refuse_messages_containing(&self, marker: &str) {
        match &self.db {
            db::TestDb::Sqlite => self.exec(&format!(
                "CREATE TRIGGER refuse_marker BEFORE INSERT ON message WHEN NEW.body LIKE '%{marker}%'
                 BEGIN SELECT RAISE(ABORT, 'test trigger refuses {marker}'); END;"
            )),
            db::TestDb::Postgres { .. } => self.exec(&format!(
                "CREATE FUNCTION refuse_marker() RETURNS trigger AS $$ BEGIN
                   IF NEW.body LIKE '%{marker}%' THEN RAISE EXCEPTION 'test trigger refuses {marker}'; END IF;
                   RETURN NEW; END $$ LANGUAGE plpgsql;
                 CREATE TRIGGER refuse_marker BEFORE INSERT ON message FOR EACH ROW EXECUTE FUNCTION refuse_marker();"
            )),
        }
    }

    /// Wait until `check` holds, polling every 50 ms.
    pub fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        mut check: impl FnMut() -> bool,
    ) -> Duration {
        let start = Instant::now();
        while start.elapsed() < limit {
            if check() {
                return start.elapsed();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{what}: not within {limit:?}");
    }
}

/// A running keepwarm process.
pub struct Running {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Running {
    /// Wait for a log line containing every needle.
    pub fn expect(&self, needles: &[&str], limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if needles.iter().all(|n| line.contains(n)) => return line,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!(
            "no log line with {needles:?} within {limit:?}; log: {:#?}",
            self.log.lock().unwrap()
        );
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("sh")
            .args(["-c", &format!("kill {sig} {}", self.child.id())])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} failed");
    }

    /// SIGTERM and wait; the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("keepwarm did not stop within 20 s after SIGTERM");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback OAuth2 token endpoint and token introspection endpoint (for Dovecot's oauth2
/// passdb): refresh token `refresh-1` buys access tokens that live `lifetime_secs`.
pub struct TokenServer {
    pub port: u16,
    /// How many access tokens were handed out.
    pub issued: Arc<Mutex<u32>>,
}

impl TokenServer {
    pub fn start(lifetime_secs: u64, user: &'static str) -> TokenServer {
        TokenServer::start_with(lifetime_secs, user, false)
    }

    /// Like `start`, but every refresh hands out a new refresh token and revokes the one used
    /// (as Microsoft's endpoint does).
    pub fn start_rotating(lifetime_secs: u64, user: &'static str) -> TokenServer {
        TokenServer::start_with(lifetime_secs, user, true)
    }

    fn start_with(lifetime_secs: u64, user: &'static str, rotate: bool) -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let issued = Arc::new(Mutex::new(0u32));
        let tokens: Arc<Mutex<Vec<(String, Instant)>>> = Arc::new(Mutex::new(Vec::new()));
        let refresh = Arc::new(Mutex::new("refresh-1".to_string()));
        let issued2 = Arc::clone(&issued);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let issued = Arc::clone(&issued2);
                let tokens = Arc::clone(&tokens);
                let refresh = Arc::clone(&refresh);
                std::thread::spawn(move || {
                    let _ = serve(
                        stream,
                        lifetime_secs,
                        user,
                        &issued,
                        &tokens,
                        &refresh,
                        rotate,
                    );
                });
            }
        });
        TokenServer { port, issued }
    }

    pub fn issued(&self) -> u32 {
        *self.issued.lock().unwrap()
    }
}

fn serve(
    mut stream: std::net::TcpStream,
    lifetime: u64,
    user: &str,
    issued: &Mutex<u32>,
    tokens: &Mutex<Vec<(String, Instant)>>,
    refresh: &Mutex<String>,
    rotate: bool,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        if h.trim().is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let body = String::from_utf8_lossy(&body).to_string();
    let form = |key: &str| {
        body.split('&').find_map(|kv| {
            kv.split_once('=')
                .filter(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        })
    };
    let (status, json) = if request_line.contains("/token") {
        let mut current = refresh.lock().unwrap();
        if form("grant_type").as_deref() == Some("refresh_token")
            && form("refresh_token").as_deref() == Some(current.as_str())
        {
            let mut n = issued.lock().unwrap();
            *n += 1;
            let token = format!("access-{}", *n);
            let until = Instant::now()
                .checked_add(Duration::from_secs(lifetime))
                .unwrap_or(Instant::now() + Duration::from_secs(86_400 * 365));
            tokens.lock().unwrap().push((token.clone(), until));
            let rotated = if rotate {
                *current = format!("refresh-{}", *n + 1);
                format!(r#","refresh_token":"{current}""#)
            } else {
                String::new()
            };
            (
                "200 OK",
                format!(
                    r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":{lifetime}{rotated}}}"#
                ),
            )
        } else {
            (
                "400 Bad Request",
                r#"{"error":"invalid_grant","error_description":"refresh token revoked"}"#.into(),
            )
        }
    } else {
        let token = form("token").unwrap_or_default();
        let valid = tokens
            .lock()
            .unwrap()
            .iter()
            .any(|(t, until)| *t == token && Instant::now() < *until);
        if valid {
            ("200 OK", format!(r#"{{"active":true,"email":"{user}"}}"#))
        } else {
            ("401 Unauthorized", r#"{"active":false}"#.into())
        }
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    )?;
    Ok(())
}

/// `path` as a TOML string.
/// A plain mail sent at `secs` (Unix seconds).
pub fn mail(from: &str, to: &str, id: &str, secs: i64, body: &str) -> String {
    let date = chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .format("%a, %d %b %Y %H:%M:%S +0000");
    format!(
        "From: {from}\nTo: {to}\nSubject: LED panels\nMessage-ID: <{id}>\nDate: {date}\n\n{body}\n"
    )
}

pub fn toml_path(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

/// One HTTP/1.1 request; (status, body).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let _ = s.write_all(body);
    // The head, then the body: its Content-Length when given (some servers keep the
    // connection open whatever the request says), else up to the close.
    let mut r = BufReader::new(s);
    let mut line = String::new();
    let _ = r.read_line(&mut line);
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut length = None;
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse::<usize>().ok();
        }
    }
    let mut out = Vec::new();
    match length {
        Some(n) => {
            out.resize(n, 0);
            let _ = r.read_exact(&mut out);
        }
        None => {
            let _ = r.read_to_end(&mut out);
        }
    }
    (status, String::from_utf8_lossy(&out).into_owned())
}

/// A loopback port nobody listens on (now), never one this process handed out before: the
/// kernel may give a just-closed port again, and two listeners of one test (public and admin)
/// once got the same one.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Importers with unrelated names (similar ones would look like phishing of each other).
pub const IMPORTERS: &[&str] = &[
    "andeslux",
    "baltic-light",
    "capecorp",
    "deltahome",
    "everbright-trade",
    "fjordimport",
    "granada-deco",
    "harbourline",
    "istanbul-elektrik",
    "jakarta-mart",
    "kilimanjaro-supply",
    "lumenhaus",
    "mumbai-fixtures",
    "nordic-retail",
    "outback-lighting",
    "pampas-group",
    "quito-hogar",
    "rotterdam-bv",
    "savanna-goods",
    "tasman-store",
];

/// A TCP proxy in front of a real IMAP server that passes everything through except the
/// `FETCH` responses carrying the body of one UID, which it swallows: a server that lists a
/// message but does not return it (deleted between SEARCH and FETCH), a fault a real server
/// cannot produce on demand.
pub struct HidingProxy {
    pub port: u16,
}

impl HidingProxy {
    pub fn start(upstream: u16, hidden_uid: u32) -> HidingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let server = std::net::TcpStream::connect(("127.0.0.1", upstream)).unwrap();
                let (mut c_read, mut s_write) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_read, &mut s_write);
                    let _ = s_write.shutdown(std::net::Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = filter_fetches(server, client, hidden_uid);
                });
            }
        });
        HidingProxy { port }
    }
}

fn filter_fetches(
    server: std::net::TcpStream,
    mut client: std::net::TcpStream,
    hidden: u32,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(server);
    let needle = format!("UID {hidden} ");
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        // A line ending in a literal "{N}\r\n": N bytes follow, then the rest of the response.
        let text = String::from_utf8_lossy(&line).to_string();
        let literal = text
            .trim_end()
            .strip_suffix('}')
            .and_then(|t| t.rsplit_once('{'))
            .and_then(|(_, n)| n.parse::<usize>().ok());
        let hide = text.starts_with("* ") && text.contains(" FETCH (") && text.contains(&needle);
        match literal {
            Some(n) => {
                let mut data = vec![0u8; n];
                reader.read_exact(&mut data)?;
                let mut rest = Vec::new();
                reader.read_until(b'\n', &mut rest)?;
                if !hide {
                    client.write_all(&line)?;
                    client.write_all(&data)?;
                    client.write_all(&rest)?;
                }
            }
            None => client.write_all(&line)?,
        }
    }
}
