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

/// axe-core over the page (WCAG 2.0 / 2.1, A and AA): one line per violation and element.
const AXE_RUN: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
  .then(r => done(r.violations.flatMap(v => v.nodes.map(n => v.id + ': ' + v.help + ' at ' + n.target.join(' ')))))
  .catch(e => done(['axe-core failed: ' + e]));
"#;

/// Walk the page with focus moves in tab order (what the Tab key does: every focusable
/// element, none with a negative tabindex, none hidden) and list the elements that cannot take
/// the focus or show no outline when they have it.
const KEYBOARD_WALK: &str = r#"
const items = [...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, summary')]
  .filter(e => e.offsetParent !== null || e.getClientRects().length > 0);
const bad = [];
for (const e of items) {
  if (e.tabIndex < 0 || e.disabled) { bad.push('not focusable: ' + e.outerHTML.slice(0, 80)); continue; }
  e.focus({focusVisible: true});
  if (document.activeElement !== e) { bad.push('does not take the focus: ' + e.outerHTML.slice(0, 80)); continue; }
  const st = getComputedStyle(e);
  if (st.outlineStyle === 'none' || parseFloat(st.outlineWidth) < 2) bad.push('no visible focus: ' + e.outerHTML.slice(0, 80));
}
document.activeElement && document.activeElement.blur();
return bad;
"#;

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

    /// Ask `ready` every 50 ms until it gives a value, for up to 15 s; then fail saying what
    /// was awaited (`what`), the address and the page.
    fn wait_until<T>(&self, what: &str, mut ready: impl FnMut() -> Option<T>) -> T {
        let started = Instant::now();
        loop {
            if let Some(value) = ready() {
                return value;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{what}: {}\n{}",
                self.url(),
                self.source()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait (up to 15 s) until the address contains `part`; returns the address.
    pub fn wait_url(&self, part: &str) -> String {
        self.wait_until(&format!("the address never contained {part:?}"), || {
            Some(self.url()).filter(|url| url.contains(part))
        })
    }

    /// Wait (up to 15 s) until something matches `css`.
    pub fn wait_for(&self, css: &str) {
        self.wait_until(&format!("nothing matched {css}"), || {
            self.exists(css).then_some(())
        })
    }

    /// Wait (up to 15 s) until the element `css` selects says `needle` (a page that is
    /// still being replaced is read again); returns its text.
    pub fn wait_text(&self, css: &str, needle: &str) -> String {
        self.wait_until(&format!("{css} never said {needle:?}"), || {
            self.try_text(css).filter(|text| text.contains(needle))
        })
    }

    /// The text of `css`, or `None` when nothing matches or the element went stale.
    fn try_text(&self, css: &str) -> Option<String> {
        let body = json!({"using": "css selector", "value": css}).to_string();
        let (status, found) = http(
            self.port,
            "POST",
            &self.at("/element"),
            &[("Content-Type", "application/json; charset=utf-8")],
            body.as_bytes(),
        );
        let found: Value = serde_json::from_str(&found)
            .ok()
            .filter(|_| status == 200)?;
        let e = found["value"][ELEMENT].as_str()?;
        let (status, text) = http(
            self.port,
            "GET",
            &self.at(&format!("/element/{e}/text")),
            &[],
            b"",
        );
        let text: Value = serde_json::from_str(&text).ok().filter(|_| status == 200)?;
        text["value"].as_str().map(str::to_string)
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

    /// Resize the window (a phone: 390 × 844).
    pub fn window(&self, width: u32, height: u32) {
        self.call(
            "POST",
            &self.at("/window/rect"),
            Some(json!({"width": width, "height": height})),
        );
    }

    /// Run a script in the page; its return value.
    pub fn script(&self, js: &str) -> Value {
        self.call(
            "POST",
            &self.at("/execute/sync"),
            Some(json!({"script": js, "args": []})),
        )
    }

    /// Save a screenshot (`screenshot`) and check the page's accessibility: axe-core's WCAG
    /// 2.1 A and AA rules (labels, contrast, names, landmarks, language...) find nothing, and
    /// every link, button and field is reached by the Tab key and shows where the focus is.
    pub fn look(&self, name: &str) {
        self.screenshot(name);
        let axe = std::env::var("KEEPWARM_AXE").unwrap_or_else(|_| {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/target/axe/node_modules/axe-core/axe.min.js"
            )
            .to_string()
        });
        let source = std::fs::read_to_string(&axe).unwrap_or_else(|e| {
            panic!("axe-core is missing ({axe}: {e}): run scripts/test (it installs axe-core)")
        });
        self.script(&format!("{source}\n;return true;"));
        let found = self.call(
            "POST",
            &self.at("/execute/async"),
            Some(json!({"script": AXE_RUN, "args": []})),
        );
        let found: Vec<String> = found
            .as_array()
            .unwrap_or_else(|| panic!("axe-core did not answer on {name}: {found}"))
            .iter()
            .map(|v| v.as_str().unwrap_or("?").to_string())
            .collect();
        assert!(
            found.is_empty(),
            "accessibility problems on the {name} page:\n{}",
            found.join("\n")
        );
        let unreached = self.script(KEYBOARD_WALK);
        assert_eq!(
            unreached,
            json!([]),
            "on the {name} page, not reached by Tab or without a visible focus"
        );
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
