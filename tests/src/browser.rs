//! A real browser for the console's end-to-end tests: headless Chromium driven over the
//! DevTools protocol (chromiumoxide, no driver), so a test clicks through the console as a
//! user would and sees what the user would see.
//!
//! - [`Browser::launch`] starts the system's `chromium` (`CHROMIUM` names another binary)
//!   with a fresh profile of its own, so tests run in parallel (a launch takes about half a
//!   second); dropping it kills and reaps the browser and removes the profile. Chromium's
//!   helper processes exit on their own then, and init reaps them. scripts/services.sh
//!   installs Chromium.
//! - [`Page`]: one tab. Actions (`goto`, `fill`, `click`) wait for what they need; waits
//!   (`wait_for`, `wait_for_text`) poll with a deadline and fail with the page's URL and
//!   what it showed instead. Every helper returns `anyhow::Result`: tests `.expect` it.
//! - [`Page::screenshot`]: a full-page PNG in `target/console-screenshots/`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use chromiumoxide::BrowserConfig;
use chromiumoxide::cdp::browser_protocol::page::{
    CaptureScreenshotFormat, EventJavascriptDialogOpening, GetNavigationHistoryParams,
    HandleJavaScriptDialogParams,
};
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::page::ScreenshotParams;
use futures::StreamExt;
use serde_json::Value;
use tokio::time::{Instant, sleep};

/// How long `click` and `fill` wait for their element to appear.
const FIND: Duration = Duration::from_secs(5);
/// How long a navigation (`goto`, `click_and_wait_navigation`) may take to load.
const NAVIGATION: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(100);

/// A headless Chromium of one test's own.
pub struct Browser {
    inner: chromiumoxide::Browser,
    handler: tokio::task::JoinHandle<()>,
    profile: PathBuf,
}

impl Browser {
    /// Starts Chromium (`CHROMIUM`, else `chromium` on `PATH`) with a 1280x900 window.
    pub async fn launch() -> anyhow::Result<Self> {
        let executable = chromium()?;
        let profile = std::env::temp_dir().join(format!(
            "hookrelay-chromium-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&profile).context("create the browser profile")?;
        let config = BrowserConfig::builder()
            .chrome_executable(&executable)
            .new_headless_mode()
            // Root in a container: Chromium's sandbox cannot start, and there is no GPU.
            .no_sandbox()
            .arg("disable-gpu")
            .arg("disable-dev-shm-usage")
            .window_size(1280, 900)
            // The window's size, not chromiumoxide's default 800x600 emulated viewport.
            .viewport(None)
            .user_data_dir(&profile)
            // Generous: the machine may be busy compiling.
            .launch_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| anyhow!(e))?;
        let (inner, mut handler) = match chromiumoxide::Browser::launch(config).await {
            Ok(launched) => launched,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&profile);
                return Err(e).with_context(|| format!("launch {}", executable.display()));
            }
        };
        // Drives the DevTools connection. Events this chromiumoxide cannot parse (a newer
        // Chromium's) come out as errors, not as the end of the stream: keep going.
        let handler = tokio::spawn(async move { while handler.next().await.is_some() {} });
        Ok(Self {
            inner,
            handler,
            profile,
        })
    }

    /// A new tab, on `about:blank`.
    pub async fn page(&self) -> anyhow::Result<Page> {
        let inner = self
            .inner
            .new_page("about:blank")
            .await
            .context("open a tab")?;
        Ok(Page {
            inner,
            dialogs: Arc::default(),
            dialog_task: OnceLock::new(),
        })
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.handler.abort();
        if let Some(child) = self.inner.get_mut_child() {
            let child = child.as_mut_inner();
            let _ = child.start_kill();
            // Reap it here (a blocking wait of milliseconds), so no zombie outlives the test.
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // Its helper processes (orphaned now, exiting on their own) may still write into the
        // profile for a moment: retry until it is gone.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::fs::remove_dir_all(&self.profile).is_err()
            && self.profile.exists()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `CHROMIUM` (a path, or a name looked up on `PATH`), else `chromium` on `PATH`.
fn chromium() -> anyhow::Result<PathBuf> {
    let name = PathBuf::from(std::env::var_os("CHROMIUM").unwrap_or_else(|| "chromium".into()));
    if name.components().count() > 1 {
        return Ok(name);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(&name))
        .find(|path| path.is_file())
        .with_context(|| {
            format!(
                "{} is not on PATH: install Debian's `chromium` (scripts/services.sh does) \
                 or set CHROMIUM to the browser's path",
                name.display()
            )
        })
}

/// A cookie as the browser holds it (`HttpOnly` ones included).
#[derive(Debug, Clone)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    pub path: String,
    pub http_only: bool,
    pub secure: bool,
    /// `Strict`, `Lax` or `None`; `None` when the cookie sets no `SameSite`.
    pub same_site: Option<String>,
}

/// One tab.
pub struct Page {
    inner: chromiumoxide::Page,
    dialogs: Arc<Mutex<Vec<String>>>,
    dialog_task: OnceLock<tokio::task::AbortHandle>,
}

impl Page {
    /// chromiumoxide's page, for anything these helpers do not cover.
    pub fn cdp(&self) -> &chromiumoxide::Page {
        &self.inner
    }

    /// Navigates to `url` and waits until the page has loaded. An HTTP error status is no
    /// error here: the page shows what the server sent (Chromium's error page when the
    /// body is empty); only failing to get a response at all is.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        match self.inner.goto(url).await {
            // Chromium's answer for a 4xx/5xx with an empty body.
            Err(e) if e.to_string().contains("ERR_HTTP_RESPONSE_CODE_FAILURE") => {}
            Err(e) => return Err(e).with_context(|| format!("navigate to {url}")),
            Ok(_) => {}
        }
        self.wait_loaded(false).await
    }

    /// Sets the value of the input, textarea or select matching `selector` (waiting for it
    /// to appear) and dispatches `input` and `change`, as typing or choosing would.
    pub async fn fill(&self, selector: &str, text: &str) -> anyhow::Result<()> {
        self.wait_for(selector, FIND).await?;
        let js = format!(
            "(() => {{ const el = document.querySelector({}); el.focus(); el.value = {};
               el.dispatchEvent(new Event('input', {{ bubbles: true }}));
               el.dispatchEvent(new Event('change', {{ bubbles: true }}));
               return el.value; }})()",
            js_str(selector),
            js_str(text)
        );
        if self.eval(&js).await? != text {
            bail!(
                "`{selector}` on {} does not take the value {text:?}",
                self.url().await?
            );
        }
        Ok(())
    }

    /// Clicks the middle of the element matching `selector` with the mouse (waiting for it
    /// to appear), and returns once the click is dispatched. A click that opens a
    /// `confirm()` blocks until it is answered: call [`Page::accept_dialogs`] first.
    pub async fn click(&self, selector: &str) -> anyhow::Result<()> {
        self.wait_for(selector, FIND).await?;
        let url = self.url().await?;
        let element = self.inner.find_element(selector).await?;
        element
            .click()
            .await
            .with_context(|| format!("click `{selector}` on {url}"))?;
        Ok(())
    }

    /// Clicks like [`Page::click`] and waits until the navigation the click causes (a link,
    /// a form submission, its redirect) has loaded a new document.
    pub async fn click_and_wait_navigation(&self, selector: &str) -> anyhow::Result<()> {
        self.eval("window.__harnessOldDocument = true").await?;
        self.click(selector).await?;
        self.wait_loaded(true)
            .await
            .with_context(|| format!("after clicking `{selector}`"))
    }

    /// The `innerText` of the first element matching `selector`.
    pub async fn text(&self, selector: &str) -> anyhow::Result<String> {
        match self.inner_text(selector).await? {
            Some(text) => Ok(text),
            None => bail!("no element matches `{selector}` on {}", self.url().await?),
        }
    }

    /// Waits until an element matches `selector`.
    pub async fn wait_for(&self, selector: &str, deadline: Duration) -> anyhow::Result<()> {
        let js = format!("document.querySelector({}) !== null", js_str(selector));
        if !self.poll(&js, deadline).await {
            bail!(
                "nothing matched `{selector}` within {deadline:?} on {}",
                self.describe("body").await
            );
        }
        Ok(())
    }

    /// Waits until the `innerText` of the element matching `selector` contains `needle`.
    pub async fn wait_for_text(
        &self,
        selector: &str,
        needle: &str,
        deadline: Duration,
    ) -> anyhow::Result<()> {
        let js = format!(
            "(document.querySelector({})?.innerText ?? '').includes({})",
            js_str(selector),
            js_str(needle)
        );
        if !self.poll(&js, deadline).await {
            bail!(
                "{needle:?} did not appear within {deadline:?} on {}",
                self.describe(selector).await
            );
        }
        Ok(())
    }

    /// The URL the tab shows (the one asked for, where `location.href` of Chromium's own
    /// error page would be `chrome-error://chromewebdata/`).
    pub async fn url(&self) -> anyhow::Result<String> {
        let history = self.inner.execute(GetNavigationHistoryParams {}).await?;
        let current = usize::try_from(history.current_index).ok();
        current
            .and_then(|i| history.result.entries.into_iter().nth(i))
            .map(|entry| entry.url)
            .context("the tab has no current history entry")
    }

    /// The document's current HTML (the DOM serialised, scripts' changes included).
    pub async fn html(&self) -> anyhow::Result<String> {
        Ok(self.inner.content().await?)
    }

    /// Evaluates `expression` in the page (awaiting a promise): a string as it is, any other
    /// value as JSON (`undefined` as `null`).
    pub async fn evaluate_string(&self, expression: &str) -> anyhow::Result<String> {
        Ok(match self.eval(expression).await? {
            Value::String(s) => s,
            other => other.to_string(),
        })
    }

    /// From now on, accepts every `alert`/`confirm`/`prompt` the page opens (the console
    /// confirms destructive actions with `confirm()`). [`Page::dialogs`] lists them.
    pub async fn accept_dialogs(&self) -> anyhow::Result<()> {
        if self.dialog_task.get().is_some() {
            return Ok(());
        }
        // chromiumoxide enables the Page domain on every tab, so the events come.
        let mut opened = self
            .inner
            .event_listener::<EventJavascriptDialogOpening>()
            .await?;
        let (page, dialogs) = (self.inner.clone(), Arc::clone(&self.dialogs));
        let answer = tokio::spawn(async move {
            while let Some(dialog) = opened.next().await {
                dialogs
                    .lock()
                    .expect("dialogs")
                    .push(dialog.message.clone());
                let _ = page.execute(HandleJavaScriptDialogParams::new(true)).await;
            }
        });
        if self.dialog_task.set(answer.abort_handle()).is_err() {
            answer.abort();
        }
        Ok(())
    }

    /// The messages of the dialogs accepted so far, oldest first.
    pub fn dialogs(&self) -> Vec<String> {
        self.dialogs.lock().expect("dialogs").clone()
    }

    /// Saves a full-page PNG as `target/console-screenshots/<name>.png` (name it after the
    /// test: tests run in parallel) and prints its path the first time.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        static SHOWN: LazyLock<Mutex<HashSet<PathBuf>>> = LazyLock::new(Mutex::default);
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("the workspace root")?
            .join("target/console-screenshots");
        std::fs::create_dir_all(&dir)?;
        let name = name.replace(
            |c: char| !c.is_ascii_alphanumeric() && !"-_.".contains(c),
            "_",
        );
        let path = dir.join(format!("{name}.png"));
        let params = ScreenshotParams::builder()
            .format(CaptureScreenshotFormat::Png)
            .full_page(true)
            .build();
        let png = self
            .inner
            .screenshot(params)
            .await
            .context("take a screenshot")?;
        std::fs::write(&path, png).with_context(|| format!("write {}", path.display()))?;
        if SHOWN.lock().expect("screenshots").insert(path.clone()) {
            eprintln!("screenshot: {}", path.display());
        }
        Ok(path)
    }

    /// The cookies the browser would send to the current URL.
    pub async fn cookies(&self) -> anyhow::Result<Vec<Cookie>> {
        let cookies = self.inner.get_cookies().await?;
        Ok(cookies
            .into_iter()
            .map(|c| Cookie {
                name: c.name,
                value: c.value,
                path: c.path,
                http_only: c.http_only,
                secure: c.secure,
                same_site: c.same_site.map(|s| s.as_ref().to_owned()),
            })
            .collect())
    }

    /// POSTs `form_body` (`application/x-www-form-urlencoded`) to `url` with the page's
    /// `fetch` (its cookies, its origin) and returns the final status (redirects followed).
    pub async fn fetch_post(&self, url: &str, form_body: &str) -> anyhow::Result<u16> {
        let js = format!(
            "fetch({}, {{ method: 'POST', body: {}, credentials: 'same-origin', headers: \
             {{ 'content-type': 'application/x-www-form-urlencoded' }} }}).then(r => r.status)",
            js_str(url),
            js_str(form_body)
        );
        let status = self.eval(&js).await?;
        status
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .with_context(|| format!("fetch answered {status} instead of a status"))
    }

    /// `innerText` of the first match, `None` when nothing matches.
    async fn inner_text(&self, selector: &str) -> anyhow::Result<Option<String>> {
        let js = format!("document.querySelector({})?.innerText", js_str(selector));
        Ok(self.eval(&js).await?.as_str().map(str::to_owned))
    }

    /// For failures: the URL and the text of `selector` (of the body when nothing matches).
    async fn describe(&self, selector: &str) -> String {
        let url = self
            .url()
            .await
            .unwrap_or_else(|e| format!("an unknown URL ({e:#})"));
        let shown = match self.inner_text(selector).await {
            Ok(Some(text)) => format!("`{selector}` shows:\n{text}"),
            Ok(None) => {
                let body = self
                    .inner_text("body")
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                format!("nothing matches `{selector}`; the page shows:\n{body}")
            }
            Err(e) => format!("`{selector}`: {e:#}"),
        };
        format!("{url}; {shown}")
    }

    /// Polls (every 100 ms) until `js` evaluates to `true`; `false` after `deadline`.
    /// Errors are "not yet": between two documents, evaluating fails.
    async fn poll(&self, js: &str, deadline: Duration) -> bool {
        let until = Instant::now() + deadline;
        loop {
            if matches!(self.eval(js).await, Ok(Value::Bool(true))) {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            sleep(POLL).await;
        }
    }

    /// Waits until the document has loaded; with `new_document`, one that replaced the one
    /// marked by `click_and_wait_navigation`.
    async fn wait_loaded(&self, new_document: bool) -> anyhow::Result<()> {
        let js = match new_document {
            true => "!window.__harnessOldDocument && document.readyState === 'complete'",
            false => "document.readyState === 'complete'",
        };
        if !self.poll(js, NAVIGATION).await {
            bail!(
                "no page loaded within {NAVIGATION:?}; still on {}",
                self.describe("body").await
            );
        }
        Ok(())
    }

    /// Evaluates `expression` in the page's current document, by value, awaiting promises.
    async fn eval(&self, expression: &str) -> anyhow::Result<Value> {
        let params = EvaluateParams::builder()
            .expression(expression)
            .await_promise(true)
            .return_by_value(true)
            .build()
            .map_err(|e| anyhow!(e))?;
        let result = self.inner.execute(params).await?.result;
        if let Some(thrown) = result.exception_details {
            let what = thrown.exception.and_then(|e| e.description);
            bail!(
                "JavaScript threw {}: {expression}",
                what.unwrap_or(thrown.text)
            );
        }
        Ok(result.result.value.unwrap_or(Value::Null))
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        if let Some(task) = self.dialog_task.get() {
            task.abort();
        }
    }
}

/// `s` as a JavaScript string literal.
fn js_str(s: &str) -> String {
    Value::from(s).to_string()
}
