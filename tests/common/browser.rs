//! A real headless Chromium driven through ChromeDriver's W3C WebDriver protocol (Debian's
//! `chromium` and `chromium-driver`, installed by `scripts/test`). Chromium runs with the flags
//! that let it run as root on a closed network.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{free_port, http};

pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    /// Start ChromeDriver and a headless Chromium session; fails the test when either is
    /// missing.
    pub fn start() -> Browser {
        for bin in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            assert!(
                std::path::Path::new(bin).exists(),
                "{bin} is missing: run scripts/test (it installs chromium and chromium-driver)"
            );
        }
        let port = free_port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1200,900",
                    format!("--user-data-dir={}", profile.path().display()),
                    "--lang=en-US",
                ],
                // No password manager: it would fill the sign-in form on its own.
                "prefs": {
                    "credentials_enable_service": false,
                    "profile.password_manager_enabled": false
                }
            }
        }}});
        let mut b = Browser {
            driver,
            port,
            session: String::new(),
            _profile: profile,
        };
        let v = b.call("POST", "/session", Some(caps));
        b.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_string();
        b
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let (status, text) = http(
            self.port,
            method,
            path,
            &[("Content-Type", "application/json; charset=utf-8")],
            body.as_bytes(),
        );
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(status == 200, "WebDriver {method} {path}: {status} {text}");
        v["value"].clone()
    }

    fn at(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub fn go(&self, url: &str) {
        self.call("POST", &self.at("/url"), Some(json!({"url": url})));
    }

    pub fn url(&self) -> String {
        self.call("GET", &self.at("/url"), None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The page's source.
    pub fn source(&self) -> String {
        self.call("GET", &self.at("/source"), None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The visible text of the element `css` selects.
    pub fn text(&self, css: &str) -> String {
        let e = self.find(css);
        self.call("GET", &self.at(&format!("/element/{e}/text")), None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub fn find(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            &self.at("/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no {css}"))
            .to_string()
    }

    /// Wait (up to 15 s) until the address contains `part`; returns the address.
    pub fn wait_url(&self, part: &str) -> String {
        let started = Instant::now();
        loop {
            let url = self.url();
            if url.contains(part) {
                return url;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "the address never contained {part:?}: {url}\n{}",
                self.source()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait (up to 15 s) until something matches `css`.
    pub fn wait_for(&self, css: &str) {
        let started = Instant::now();
        while !self.exists(css) {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "nothing matched {css}: {}\n{}",
                self.url(),
                self.source()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn exists(&self, css: &str) -> bool {
        let v = self.call(
            "POST",
            &self.at("/elements"),
            Some(json!({"using": "css selector", "value": css})),
        );
        v.as_array().is_some_and(|a| !a.is_empty())
    }

    /// Replace the value of the field `css` selects with `text`.
    pub fn type_in(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.call(
            "POST",
            &self.at(&format!("/element/{e}/clear")),
            Some(json!({})),
        );
        self.call(
            "POST",
            &self.at(&format!("/element/{e}/value")),
            Some(json!({"text": text})),
        );
    }

    pub fn click(&self, css: &str) {
        let e = self.find(css);
        self.call(
            "POST",
            &self.at(&format!("/element/{e}/click")),
            Some(json!({})),
        );
    }

    /// A cookie's value, if the browser holds it.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let all = self.call("GET", &self.at("/cookie"), None);
        all.as_array()?
            .iter()
            .find(|c| c["name"] == name)
            .and_then(|c| c["value"].as_str().map(str::to_string))
    }

    /// Save a screenshot of the page to `target/board-<name>.png`.
    pub fn screenshot(&self, name: &str) {
        use base64::Engine as _;
        let v = self.call("GET", &self.at("/screenshot"), None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or(""))
            .unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("board-{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = http(
                self.port,
                "DELETE",
                &format!("/session/{}", self.session),
                &[],
                b"",
            );
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
