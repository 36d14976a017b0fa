//! A loopback webhook receiver for the CRM tests: answers a script of faults (a status with
//! headers, or silence past the client's timeout), then 200; records every request and checks
//! its signature with the documented recipe.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What to do with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16, &'static str),
    /// Say nothing for this long, then close.
    Hang(Duration),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub event_id: String,
    pub event_type: String,
    pub customer: Option<String>,
    pub signature_ok: bool,
    /// The status answered (0: none, the request hung).
    pub answered: u16,
    pub body: serde_json::Value,
    /// When the request arrived.
    pub at: std::time::Instant,
    /// How many signatures the request carried.
    pub signatures: usize,
    pub method: String,
}

pub struct Receiver {
    pub port: u16,
    pub log: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Start; `script` answers the first requests in order, then every request gets 200 after
    /// `delay`.
    pub fn start(secret: &'static str, script: Vec<Reply>, delay: Duration) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(std::collections::VecDeque::from(script)));
        let log2 = Arc::clone(&log);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = Arc::clone(&log2);
                let script = Arc::clone(&script);
                std::thread::spawn(move || {
                    let _ = serve(stream, secret, &script, &log, delay);
                });
            }
        });
        Receiver { port, log }
    }

    pub fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    /// Event ids answered 200, in the order they were accepted.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.answered == 200)
            .collect()
    }
}

fn serve(
    mut stream: std::net::TcpStream,
    secret: &str,
    script: &Mutex<std::collections::VecDeque<Reply>>,
    log: &Mutex<Vec<Received>>,
    delay: Duration,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut headers = std::collections::HashMap::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            if h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
        let header = |k: &str| headers.get(k).cloned().unwrap_or_default();
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(header("x-keepwarm-timestamp").as_bytes());
        mac.update(b".");
        mac.update(&body);
        let expected = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        // The script is popped and a scripted answer logged under one lock, so the log's
        // order is the order the scripted answers were given even when requests race.
        let mut script = script.lock().unwrap();
        let reply = script.pop_front();
        let mut received = Received {
            event_id: header("x-keepwarm-event-id"),
            event_type: header("x-keepwarm-event-type"),
            customer: json["customer_id"].as_str().map(str::to_string),
            // During a secret rotation the header holds several signatures.
            signature_ok: header("x-keepwarm-signature")
                .split(',')
                .any(|s| s.trim() == expected),
            signatures: header("x-keepwarm-signature").split(',').count(),
            method: request_line
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string(),
            answered: 0,
            body: json,
            at: std::time::Instant::now(),
        };
        match reply {
            Some(Reply::Hang(d)) => {
                log.lock().unwrap().push(received);
                drop(script);
                std::thread::sleep(d);
                return Ok(());
            }
            Some(Reply::Status(status, extra)) => {
                received.answered = status;
                log.lock().unwrap().push(received);
                drop(script);
                write!(
                    stream,
                    "HTTP/1.1 {status} X\r\n{extra}Content-Length: 0\r\n\r\n"
                )?;
            }
            None => {
                drop(script);
                std::thread::sleep(delay);
                received.answered = 200;
                log.lock().unwrap().push(received);
                write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")?;
            }
        }
    }
}
