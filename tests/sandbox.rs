//! `novera-assistant sandbox`, used through its page in a real browser: headless Chromium
//! driven over WebDriver (Debian's `chromium` and `chromium-driver`). Each scenario starts the
//! real binary in sandbox mode, clicks and types as a member would, and keeps a screenshot
//! under `target/sandbox-screenshots/`.
//!
//! Without `chromedriver` on the PATH these tests say so and pass, so `cargo test` works on a
//! machine without a browser; `.ci/run` installs both and sets `NOVERA_REQUIRE_BROWSER=1`, which
//! turns a missing browser into a failure.
#![allow(clippy::disallowed_methods)] // #[tokio::test] builds a runtime; tests may time out.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long one step of a scenario may take (a page update, the bot's answer).
const STEP: Duration = Duration::from_secs(15);

/// The sandbox binary, started with `SANDBOX_ADDR=127.0.0.1:0`.
struct Sandbox {
    child: Child,
    url: String,
    /// What it printed on stdout after its address (nothing, or the test fails).
    more_output: tokio::task::JoinHandle<Vec<String>>,
    /// Its `TMPDIR`, where it keeps its database while it runs.
    tmp: tempfile::TempDir,
}

impl Sandbox {
    async fn start() -> Sandbox {
        let data = tempfile::tempdir().expect("temp dir");
        let mut command = Command::new(env!("CARGO_BIN_EXE_novera-assistant"));
        command
            .arg("sandbox")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TMPDIR", data.path())
            .env("SANDBOX_ADDR", "127.0.0.1:0")
            // The production variables are ignored in sandbox mode: a token or database given
            // here must not be used.
            .env("DISCORD_TOKEN", "production-token-never-used")
            .env("DATABASE_URL", "sqlite:///nonexistent/production.db")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("start the sandbox");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(STEP, lines.next_line())
            .await
            .expect("the sandbox prints its address in time")
            .expect("read stdout")
            .expect("a line on stdout");
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("no loopback address in {first:?}"))
            .to_owned();
        let more_output = tokio::spawn(async move {
            let mut more = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                more.push(line);
            }
            more
        });
        Sandbox {
            child,
            url,
            more_output,
            tmp: data,
        }
    }

    /// Ctrl-C (SIGINT): the sandbox stops cleanly, with exit code 0.
    async fn interrupt(mut self) {
        let pid = libc::pid_t::try_from(self.child.id().expect("pid")).expect("a pid");
        // SAFETY: kill(2) only sends a signal, to our own child.
        let sent = unsafe { libc::kill(pid, libc::SIGINT) };
        assert_eq!(sent, 0, "kill({pid}, SIGINT) failed");
        let status = tokio::time::timeout(Duration::from_secs(12), self.child.wait())
            .await
            .expect("the sandbox stops within 12 s of Ctrl-C")
            .expect("wait");
        assert_eq!(status.code(), Some(0), "Ctrl-C must end the sandbox with 0");
        let left: Vec<_> = std::fs::read_dir(self.tmp.path())
            .expect("read TMPDIR")
            .collect();
        assert!(
            left.is_empty(),
            "the sandbox leaves its data behind: {left:?}"
        );
        let more = self.more_output.await.expect("stdout reader");
        assert!(
            more.is_empty(),
            "the sandbox prints its address and nothing else on stdout: {more:#?}"
        );
    }
}

/// A ChromeDriver process and a headless Chromium session.
struct Browser {
    client: Client,
    _driver: Child,
    name: &'static str,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

impl Browser {
    /// A browser, or `None` (with a note) when ChromeDriver is not installed and not required.
    async fn start(name: &'static str) -> Option<Browser> {
        let Some(driver) = find_program("chromedriver") else {
            assert!(
                std::env::var_os("NOVERA_REQUIRE_BROWSER").is_none(),
                "NOVERA_REQUIRE_BROWSER is set but chromedriver is not on the PATH \
                 (apt-get install chromium chromium-driver)"
            );
            eprintln!(
                "skipped: chromedriver is not installed (apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let port = free_port();
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let mut options = json!({"args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--window-size=1400,900", "--no-first-run", "--disable-extensions",
        ]});
        if let Some(binary) = find_program("chromium") {
            options["binary"] = json!(binary);
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let attempt = ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await;
            match attempt {
                Ok(client) => break client,
                Err(err) if started.elapsed() < STEP => {
                    let _ = err;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(err) => panic!("cannot start a Chromium session: {err}"),
            }
        };
        Some(Browser {
            client,
            _driver: driver,
            name,
        })
    }

    /// Saves a screenshot as `target/sandbox-screenshots/<scenario>-<step>.png`.
    async fn screenshot(&self, step: &str) {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .map(|t| t.join("sandbox-screenshots"))
            .expect("target dir");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(dir.join(format!("{}-{step}.png", self.name)), png);
        }
    }

    /// Runs `action` on the element `css` finds, again while the page redraws under it, until
    /// it works or [`STEP`] passes.
    async fn on(&self, css: &str, what: &str, action: Action<'_>) {
        let end = Instant::now() + STEP;
        loop {
            let result = async {
                let element = self.client.find(Locator::Css(css)).await?;
                match action {
                    Action::Click => element.click().await,
                    Action::Type(text) => element.send_keys(text).await,
                    Action::Pick(value) => element.select_by_value(value).await,
                }
            }
            .await;
            match result {
                Ok(()) => return,
                Err(err) if Instant::now() > end => {
                    self.screenshot("failed").await;
                    panic!("{what}: {err}");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Waits until the element `css` finds contains `text`; returns its text.
    async fn wait_text(&self, css: &str, text: &str) -> String {
        let end = Instant::now() + STEP;
        loop {
            let mut seen = Vec::new();
            if let Ok(elements) = self.client.find_all(Locator::Css(css)).await {
                for element in elements {
                    if let Ok(t) = element.text().await {
                        if t.contains(text) {
                            return t;
                        }
                        seen.push(t);
                    }
                }
            }
            if Instant::now() > end {
                self.screenshot("failed").await;
                panic!("no {css} containing {text:?} within {STEP:?}; seen: {seen:#?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The text of every message in the channel shown.
    async fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for element in self
            .client
            .find_all(Locator::Css("#messages .message"))
            .await
            .unwrap_or_default()
        {
            out.push(element.text().await.unwrap_or_default());
        }
        out
    }

    async fn act_as(&self, member_id: &str) {
        self.on(
            "#acting-as",
            "pick the member to act as",
            Action::Pick(member_id),
        )
        .await;
    }

    async fn open_channel(&self, name: &str) {
        let css = format!("#sidebar li[data-channel='{name}']");
        self.on(&css, &format!("open #{name}"), Action::Click).await;
        let title = if name == "dm" {
            "@ Novera".to_owned()
        } else {
            format!("# {name}")
        };
        self.wait_text("#channel-title", &title).await;
    }

    /// Types `/name`, picks it in the autocomplete, fills `options` (`(name, value)`; a select's
    /// value or a typed text) and sends it.
    async fn slash(&self, name: &str, options: &[(&str, &str)]) {
        self.on(
            "#input",
            "type in the composer",
            Action::Type(&format!("/{}", &name[..2])),
        )
        .await;
        let item = format!("#autocomplete .item[data-name='{name}']");
        self.on(
            &item,
            &format!("pick /{name} in the autocomplete"),
            Action::Click,
        )
        .await;
        for (option, value) in options {
            let css = format!("#options [data-option='{option}']");
            let element = self
                .client
                .find(Locator::Css(&css))
                .await
                .unwrap_or_else(|e| panic!("/{name} shows the option {option}: {e}"));
            let tag = element.tag_name().await.expect("tag");
            let action = if tag == "select" {
                Action::Pick(value)
            } else {
                Action::Type(value)
            };
            self.on(&css, &format!("fill {option}"), action).await;
        }
        self.on("#send", "send the command", Action::Click).await;
    }

    /// Types `text` in the composer and sends it with Enter.
    async fn say(&self, text: &str) {
        self.on(
            "#input",
            "type a message",
            Action::Type(&format!("{text}\n")),
        )
        .await;
    }

    /// Clicks the newest enabled button labelled `label`.
    async fn click_button(&self, label: &str) {
        let css = format!("#messages button[data-label='{label}']:not([disabled])");
        let end = Instant::now() + STEP;
        loop {
            let buttons = self
                .client
                .find_all(Locator::Css(&css))
                .await
                .unwrap_or_default();
            let clicked = match buttons.last() {
                Some(button) => button.click().await.is_ok(),
                None => false,
            };
            if clicked {
                return;
            }
            if Instant::now() > end {
                self.screenshot("failed").await;
                panic!("no enabled {label} button to click within {STEP:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[derive(Clone, Copy)]
enum Action<'a> {
    Click,
    Type(&'a str),
    Pick(&'a str),
}

/// Ids of the demo league's members, as the sandbox seeds them.
const YOU: &str = "1100000000000000101";
const BOB: &str = "1100000000000000102";
const CAROL: &str = "1100000000000000103";
const DAN: &str = "1100000000000000106";
const ANNOUNCEMENTS: &str = "1100000000000000053";

async fn start(name: &'static str) -> Option<(Sandbox, Browser)> {
    let browser = Browser::start(name).await?;
    let sandbox = Sandbox::start().await;
    browser
        .client
        .goto(&sandbox.url)
        .await
        .expect("open the page");
    browser.wait_text("#guild-name", "Novera Demo League").await;
    browser.wait_text("#health", "200").await;
    // The bot registers its commands once connected.
    browser.act_as(YOU).await;
    browser.wait_text("#acting-roles", "Server owner").await;
    Some((sandbox, browser))
}

async fn finish(sandbox: Sandbox, browser: Browser) {
    let rules = browser
        .client
        .find(Locator::Css("#violations"))
        .await
        .expect("the rules panel")
        .text()
        .await
        .expect("its text");
    assert_eq!(
        rules.trim(),
        "No rule broken.",
        "the bot broke Discord's rules during the scenario"
    );
    let _ = browser.client.clone().close().await;
    sandbox.interrupt().await;
}

#[tokio::test]
async fn a_complete_tryout_in_the_browser() {
    let Some((sandbox, browser)) = start("tryout").await else {
        return;
    };
    browser.open_channel("general").await;
    browser.slash("tryout start", &[("member", DAN)]).await;
    browser
        .wait_text("#messages .message", "Check your DMs")
        .await;
    browser.open_channel("dm").await;
    browser.wait_text("#messages .message", "Tryout of").await;
    browser.screenshot("1-dm").await;
    browser
        .on(
            "#messages select.component",
            "pick the position",
            Action::Pick("CF"),
        )
        .await;
    browser
        .wait_text("#messages .message", "position: CF")
        .await;
    let mut answered = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered < 8 {
        assert!(
            Instant::now() < deadline,
            "the ratings did not end within 60 s"
        );
        let last = browser.messages().await.pop().unwrap_or_default();
        if last.contains("Write your feedback") {
            break;
        }
        if last.contains("from 0 to 10") {
            browser.say("8").await;
            answered += 1;
            let end = Instant::now() + STEP;
            while browser.messages().await.pop().unwrap_or_default() == last && Instant::now() < end
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(answered >= 4, "every position rates at least four skills");
    browser
        .wait_text("#messages .message", "Write your feedback")
        .await;
    browser.say("Quick feet, strong finish.").await;
    let summary = browser
        .wait_text("#messages .message", "Save this evaluation?")
        .await;
    browser.screenshot("2-summary").await;
    assert!(
        summary.contains("million"),
        "the summary shows the value: {summary}"
    );
    browser.click_button("Confirm").await;

    // The result is posted in #tryout-results and /value shows the new value.
    browser.open_channel("tryout-results").await;
    let posted = browser.wait_text("#messages .message", "dan").await;
    browser.screenshot("3-results").await;
    assert!(
        posted.contains("million"),
        "the result shows the value: {posted}"
    );
    browser.open_channel("general").await;
    browser.slash("value", &[("member", DAN)]).await;
    let value = browser
        .wait_text("#messages .message", "@dan is worth")
        .await;
    assert!(
        value.contains("million") && value.contains("rank #"),
        "{value}"
    );
    browser.screenshot("4-value").await;
    finish(sandbox, browser).await;
}

#[tokio::test]
async fn an_announcement_with_its_modal_and_preview() {
    let Some((sandbox, browser)) = start("announce").await else {
        return;
    };
    browser.open_channel("general").await;
    browser.slash("announce", &[]).await;
    browser
        .wait_text("#messages .message.ephemeral", "step 1 of 3")
        .await;
    browser
        .on(
            "#messages .message.ephemeral select.component",
            "pick the channel",
            Action::Pick(ANNOUNCEMENTS),
        )
        .await;
    browser
        .wait_text("#messages .message.ephemeral", "step 2 of 3")
        .await;
    browser.click_button("No ping").await;
    browser
        .wait_text("dialog#modal[open] #modal-title", "nnouncement")
        .await;
    // The form keeps Discord's limits: a title past its 200 characters cannot be typed.
    let long = "x".repeat(205);
    browser
        .on(
            "#modal [data-id='title']",
            "type a long title",
            Action::Type(&long),
        )
        .await;
    let title = browser
        .client
        .find(Locator::Css("#modal [data-id='title']"))
        .await
        .expect("the title field");
    let typed = title
        .prop("value")
        .await
        .expect("its value")
        .unwrap_or_default();
    assert_eq!(typed.chars().count(), 200, "the title stops at its limit");
    title.clear().await.expect("cleared");
    browser
        .on(
            "#modal [data-id='title']",
            "type the title",
            Action::Type("Season 3"),
        )
        .await;
    browser
        .on(
            "#modal [data-id='body']",
            "type the body",
            Action::Type("Kick-off is on **Friday** at 20:00."),
        )
        .await;
    browser.screenshot("1-modal").await;
    browser
        .on("#modal-submit", "submit the modal", Action::Click)
        .await;
    let preview = browser
        .wait_text("#messages .message.ephemeral", "Preview")
        .await;
    assert!(preview.contains("Only you can see this"), "{preview}");
    browser.screenshot("2-preview").await;
    browser.click_button("Post").await;
    browser.open_channel("announcements").await;
    let posted = browser
        .wait_text("#messages .message", "Kick-off is on Friday")
        .await;
    assert!(posted.contains("Season 3"), "{posted}");
    // Markdown is rendered: the body's bold word is a <strong>.
    let mut bold = Vec::new();
    for strong in browser
        .client
        .find_all(Locator::Css("#messages .message strong"))
        .await
        .expect("bold text")
    {
        bold.push(strong.text().await.unwrap_or_default());
    }
    assert!(bold.iter().any(|b| b == "Friday"), "{bold:?}");
    browser.screenshot("3-posted").await;
    finish(sandbox, browser).await;
}

#[tokio::test]
async fn a_plain_member_is_refused_and_sees_it_alone() {
    let Some((sandbox, browser)) = start("refusal").await else {
        return;
    };
    browser.act_as(BOB).await;
    browser.wait_text("#acting-roles", "Tryout Passed").await;
    browser.open_channel("general").await;
    browser
        .slash("setvalue", &[("member", CAROL), ("amount", "500")])
        .await;
    let refusal = browser
        .wait_text("#messages .message.ephemeral", "Only you can see this")
        .await;
    browser.screenshot("1-refused").await;
    assert!(
        refusal.to_lowercase().contains("staff") || refusal.contains("permission"),
        "the refusal says why: {refusal}"
    );
    // Carol's value did not change, and the owner does not see Bob's refusal.
    browser.act_as(YOU).await;
    browser.wait_text("#acting-roles", "Server owner").await;
    browser.slash("value", &[("member", CAROL)]).await;
    let value = browser
        .wait_text("#messages .message", "@carol is worth")
        .await;
    assert!(value.contains("¥35 million"), "{value}");
    let seen = browser.messages().await;
    assert!(
        !seen
            .iter()
            .any(|m| m.contains(&refusal[..refusal.len().min(20)])),
        "another member sees Bob's ephemeral refusal: {seen:#?}"
    );
    browser.screenshot("2-owner-view").await;
    finish(sandbox, browser).await;
}

#[tokio::test]
async fn a_dropped_connection_during_a_pending_ask() {
    let Some((sandbox, browser)) = start("ask").await else {
        return;
    };
    browser.act_as(BOB).await;
    browser.wait_text("#acting-roles", "Tryout Passed").await;
    browser.open_channel("general").await;
    browser
        .slash("ask", &[("question", "Who wins tonight?")])
        .await;
    browser
        .wait_text("#messages .message", "Who wins tonight?")
        .await;
    browser
        .on(
            ".fault[data-kind='drop']",
            "drop the connection",
            Action::Click,
        )
        .await;
    browser
        .wait_text("#notice", "Injected: Drop connection")
        .await;
    browser.screenshot("1-dropped").await;
    // The bot resumed its session on a new connection, and its probe says so.
    browser.wait_text("#gateway", ", 1 resumes").await;
    browser.wait_text("#gateway", "Gateway: connected").await;
    browser.wait_text("#health", "200").await;
    browser.say("The home team").await;
    let echoed = browser
        .wait_text("#messages .message", "You said: The home team")
        .await;
    assert!(echoed.contains("The home team"));
    browser.screenshot("2-answered").await;
    finish(sandbox, browser).await;
}

#[tokio::test]
async fn a_member_joins_and_is_welcomed() {
    let Some((sandbox, browser)) = start("welcome").await else {
        return;
    };
    browser.open_channel("general").await;
    browser.on("#join", "a member joins", Action::Click).await;
    let welcome = browser
        .wait_text("#messages .message", "Welcome to the Novera Demo League")
        .await;
    assert!(welcome.contains("@newcomer-1"), "{welcome}");
    browser.screenshot("1-welcomed").await;
    finish(sandbox, browser).await;
}
