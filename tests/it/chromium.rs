//! Headless Chromium for the browser tests, driven over WebDriver (fantoccini).
//!
//! Each [`Chromium`] runs its own chromedriver (on a port chromedriver picks) with one browser
//! session and its own profile, so tests in parallel share nothing; dropping it kills the
//! driver and its browser. A test names its steps: a step that fails, by an error or a panic,
//! leaves a screenshot and the page's HTML as `target/test-artifacts/<test>/<step>.png` and
//! `.html` and fails the test naming the step. Waits poll a condition until [`WAIT`].

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long a wait lasts before the step fails: generous, since a busy two-core machine runs
/// other tests beside the browser.
pub const WAIT: Duration = Duration::from_secs(30);

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(100);

const MISSING: &str = "browser tests need Chromium and chromedriver: apt-get install -y chromium chromium-driver";

/// Why a step failed, in words for the test's output.
#[derive(Debug)]
pub struct Failure(pub String);

impl From<fantoccini::error::CmdError> for Failure {
    fn from(error: fantoccini::error::CmdError) -> Self {
        Self(format!("the browser refused: {error}"))
    }
}

pub type Step<T = ()> = Result<T, Failure>;

/// Fails the step with `message` unless `condition` holds.
pub fn ensure(condition: bool, message: impl FnOnce() -> String) -> Step {
    if condition { Ok(()) } else { Err(Failure(message())) }
}

/// How a page fits the window's width.
#[derive(Debug)]
pub struct Overflow {
    /// CSS pixels the page is wider than the window.
    pub beyond: i64,
    /// The first elements past the window's right edge, with where they end.
    pub sticking_out: String,
    /// Boxes whose content scrolls sideways inside them.
    pub scrolling_boxes: Vec<String>,
}

/// The folder a test's artifacts go to, emptied when the test starts.
pub struct Artifacts {
    dir: PathBuf,
}

impl Artifacts {
    pub fn for_test(test: &str) -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/test-artifacts")
            .join(slug(test));
        // Nothing there yet is fine; files of an earlier run must not pass for this one's.
        let _ = std::fs::remove_dir_all(&dir);
        Self { dir }
    }
}

/// A headless Chromium on the web front at `base`.
pub struct Chromium {
    client: Client,
    base: String,
    artifacts: PathBuf,
    driver: Driver,
}

impl Chromium {
    /// Starts chromedriver and a desktop-sized browser session on it; fails the test with the
    /// line to install them when Chromium or chromedriver is missing.
    pub async fn open(base: &str, artifacts: &Artifacts) -> Self {
        Self::open_sized(base, artifacts, (1280, 1000)).await
    }

    /// Like [`Chromium::open`], with a viewport of `size` (width, height) CSS pixels: (390, 844)
    /// is a phone's.
    pub async fn open_sized(base: &str, artifacts: &Artifacts, size: (u32, u32)) -> Self {
        for program in ["chromium", "chromedriver"] {
            assert!(on_path(program), "{MISSING} (no `{program}` on PATH)");
        }
        let driver = Driver::start().await;
        let capabilities = json!({
            "goog:chromeOptions": {
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", format!("--window-size={},{}", size.0, size.1),
                    format!("--user-data-dir={}", driver.scratch.join("profile").display()),
                ],
                // The viewport exactly (a window is never narrower than 500 pixels).
                "mobileEmulation": {"deviceMetrics": {"width": size.0, "height": size.1, "pixelRatio": 1}}
            }
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object")
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| panic!("chromedriver could not start a Chromium session: {e}"));
        Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            artifacts: artifacts.dir.clone(),
            driver,
        }
    }

    /// Runs the step `name`. When it fails (an error or a panic), saves the page as it is then
    /// (`<step>.png` and `<step>.html`) and fails the test saying which step and where.
    pub async fn step<T>(&self, name: &str, work: impl AsyncFnOnce() -> Step<T>) -> T {
        let failure = match AssertUnwindSafe(work()).catch_unwind().await {
            Ok(Ok(value)) => return value,
            Ok(Err(Failure(why))) => why,
            Err(panic) => panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "it panicked".to_owned()),
        };
        let saved = self.save_artifacts(name).await;
        panic!("step `{name}` failed: {failure}\n{saved}");
    }

    /// Writes the screenshot and HTML of the page now; says where, or why not.
    async fn save_artifacts(&self, step: &str) -> String {
        let base = self.artifacts.join(slug(step));
        if let Err(e) = std::fs::create_dir_all(&self.artifacts) {
            return format!("no artifacts: cannot create {}: {e}", self.artifacts.display());
        }
        let mut notes = Vec::new();
        let url = self.client.current_url().await.map(|u| u.to_string());
        notes.push(format!("page: {}", url.unwrap_or_else(|e| format!("unknown ({e})"))));
        let png = base.with_extension("png");
        match self.client.screenshot().await.map(|bytes| std::fs::write(&png, bytes)) {
            Ok(Ok(())) => notes.push(format!("screenshot: {}", png.display())),
            Ok(Err(e)) => notes.push(format!("screenshot not written: {e}")),
            Err(e) => notes.push(format!("no screenshot: {e}")),
        }
        let html = base.with_extension("html");
        match self.client.source().await.map(|source| std::fs::write(&html, source)) {
            Ok(Ok(())) => notes.push(format!("HTML: {}", html.display())),
            Ok(Err(e)) => notes.push(format!("HTML not written: {e}")),
            Err(e) => notes.push(format!("no HTML: {e}")),
        }
        notes.join("\n")
    }

    /// How the page fits the window's width: how many CSS pixels it is wider (0 when nothing
    /// has to be scrolled sideways), the elements sticking out past the edge, and the boxes
    /// that scroll sideways inside the page (a wide table in its own box).
    pub async fn overflow(&self) -> Step<Overflow> {
        let answer = self
            .client
            .execute(
                "const width = window.innerWidth; \
                 const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') \
                   + (typeof e.className === 'string' && e.className ? '.' + e.className.trim().split(/\\s+/).join('.') : ''); \
                 const all = [...document.querySelectorAll('body *')]; \
                 const outside = all.filter(e => e.getBoundingClientRect().right > width + 1) \
                   .slice(0, 8).map(e => name(e) + ' ' + Math.round(e.getBoundingClientRect().right)); \
                 const scrolling = all.filter(e => e.scrollWidth > e.clientWidth + 1 \
                   && ['auto', 'scroll'].includes(getComputedStyle(e).overflowX)).map(name); \
                 return [document.documentElement.scrollWidth - width, outside.join(', '), scrolling];",
                vec![],
            )
            .await?;
        Ok(Overflow {
            beyond: answer[0].as_i64().unwrap_or(i64::MAX),
            sticking_out: answer[1].as_str().unwrap_or_default().to_owned(),
            scrolling_boxes: answer[2]
                .as_array()
                .map(|boxes| boxes.iter().filter_map(|b| b.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
        })
    }

    /// Waits until the tab's title is `expected`.
    pub async fn wait_for_title(&self, expected: &str) -> Step {
        let started = Instant::now();
        loop {
            let title = self.client.title().await?;
            if title == expected {
                return Ok(());
            }
            if started.elapsed() > WAIT {
                return Err(Failure(format!("the title stayed {title:?}, not {expected:?}")));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The height of the element `css` in CSS pixels.
    pub async fn height(&self, css: &str) -> Step<f64> {
        let answer = self
            .client
            .execute(
                "const e = document.querySelector(arguments[0]); return e ? e.getBoundingClientRect().height : -1;",
                vec![json!(css)],
            )
            .await?;
        Ok(answer.as_f64().unwrap_or(-1.0))
    }

    /// Logs in through the login page and waits until the page header shows `signed_in_as`.
    pub async fn log_in(&self, email: &str, password: &str, signed_in_as: &str) -> Step {
        self.visit("/login").await?;
        self.fill("#email", email).await?;
        self.fill("#password", password).await?;
        self.click("form[action='/login'] button[type=submit]").await?;
        self.wait_for_text(".account", signed_in_as).await?;
        Ok(())
    }

    /// Opens `path` of the web front, as when typed in the address bar.
    pub async fn visit(&self, path: &str) -> Step {
        Ok(self.client.goto(&format!("{}{path}", self.base)).await?)
    }

    /// Goes back one page in the history, as the back button does.
    pub async fn back(&self) -> Step {
        Ok(self.client.back().await?)
    }

    /// Types `value` into the field `css`, replacing what it held.
    pub async fn fill(&self, css: &str, value: &str) -> Step {
        let field = self.find(css).await?;
        field.clear().await?;
        Ok(field.send_keys(value).await?)
    }

    /// Picks the option with `value` in the select `css`.
    pub async fn select(&self, css: &str, value: &str) -> Step {
        Ok(self.find(css).await?.select_by_value(value).await?)
    }

    /// Clicks the element `css` once it is there.
    pub async fn click(&self, css: &str) -> Step {
        Ok(self.find(css).await?.click().await?)
    }

    /// Clicks the first link whose text includes `text`, once there is one.
    pub async fn click_link(&self, text: &str) -> Step {
        assert!(!text.contains('"'), "link texts to click have no double quote: {text}");
        let xpath = format!(r#"//a[contains(normalize-space(.), "{text}")]"#);
        let link = self
            .poll(&format!("a link reading {text:?}"), async || {
                self.client.find(Locator::XPath(&xpath)).await.ok()
            })
            .await?;
        Ok(link.click().await?)
    }

    /// Waits until the element `css` shows `text`; answers all it shows then.
    pub async fn wait_for_text(&self, css: &str, text: &str) -> Step<String> {
        let mut seen = None;
        let found = self
            .poll(&format!("{css} to show {text:?}"), async || {
                seen = self.text(css).await;
                seen.clone().filter(|shown| shown.contains(text))
            })
            .await;
        found.map_err(|Failure(why)| match seen {
            Some(shown) => Failure(format!("{why}; it showed {:?}", shorten(&shown))),
            None => Failure(format!("{why}; there is no {css} on the page")),
        })
    }

    /// What the element `css` shows now (its rendered text), if it is on the page.
    pub async fn text(&self, css: &str) -> Option<String> {
        let script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;";
        match self.client.execute(script, vec![json!(css)]).await {
            Ok(Value::String(text)) => Some(text),
            _ => None,
        }
    }

    /// What the field `css` holds now.
    pub async fn value(&self, css: &str) -> Step<String> {
        Ok(self.find(css).await?.prop("value").await?.unwrap_or_default())
    }

    /// Tags the page now shown, so [`Self::same_page`] can tell whether it was reloaded or
    /// left since (htmx swaps keep the tag; a navigation loses it).
    pub async fn mark_page(&self) -> Step {
        self.client.execute("window.__notReloaded = true;", vec![]).await?;
        Ok(())
    }

    /// Fails unless the page tagged by [`Self::mark_page`] is still the one shown.
    pub async fn same_page(&self) -> Step {
        let tagged = self
            .client
            .execute("return window.__notReloaded === true;", vec![])
            .await?;
        ensure(tagged == Value::Bool(true), || {
            "the page was reloaded or left, where it should have updated in place".to_owned()
        })
    }

    /// Ends the session and its browser.
    pub async fn close(self) {
        let _ = self.client.close().await;
        drop(self.driver);
    }

    async fn find(&self, css: &str) -> Step<fantoccini::elements::Element> {
        self.poll(&format!("{css} to be on the page"), async || {
            self.client.find(Locator::Css(css)).await.ok()
        })
        .await
    }

    /// Polls `attempt` until it gives a value, for at most [`WAIT`].
    async fn poll<T>(&self, what: &str, mut attempt: impl AsyncFnMut() -> Option<T>) -> Step<T> {
        let started = Instant::now();
        loop {
            if let Some(value) = attempt().await {
                return Ok(value);
            }
            if started.elapsed() > WAIT {
                return Err(Failure(format!("waited {WAIT:?} for {what}")));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// A chromedriver of our own, in its own process group with the browser it starts, and a
/// scratch folder for both (the browser's profile, their temporary files): dropping it kills
/// the group and removes the folder, even when the test failed mid-session.
struct Driver {
    process: Child,
    url: String,
    scratch: PathBuf,
}

impl Driver {
    async fn start() -> Self {
        let scratch = std::env::temp_dir().join(format!("shop-chromium-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&scratch).expect("a scratch folder for Chromium");
        let mut process = Command::new("chromedriver")
            .arg("--port=0")
            .env("TMPDIR", &scratch)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{MISSING} (chromedriver did not start: {e})"));
        let mut lines = BufReader::new(process.stdout.take().expect("chromedriver's stdout")).lines();
        // chromedriver says which port it took: "ChromeDriver was started successfully on port 40123."
        let port = tokio::time::timeout(WAIT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(port) = line
                    .split("started successfully on port ")
                    .nth(1)
                    .and_then(|rest| rest.trim_end_matches('.').trim().parse::<u16>().ok())
                {
                    return Some(port);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .expect("chromedriver reports the port it listens on");
        // The rest of its output is not needed, but a full pipe would stall it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            process,
            url: format!("http://127.0.0.1:{port}"),
            scratch,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The browser is chromedriver's child in its process group: kill them together, so
        // a failed test leaves no Chromium behind.
        if let Some(pid) = self.process.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// A name fit for a file: lower case, words joined by dashes.
fn slug(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

fn shorten(text: &str) -> String {
    const MAX: usize = 300;
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}
