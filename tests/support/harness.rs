//! Runs the real `novera-assistant` binary against a [`Sim`], captures its logs, and kills it
//! when dropped. Nothing here is built for tests only: the binary is the one users run.

use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use super::sim::Sim;

/// How the bot is started.
#[derive(Clone, Debug)]
pub struct BotOptions {
    /// `WAIT_TIMEOUT_SECS`.
    pub wait_timeout: Option<u64>,
    /// `DEV_GUILD_ID`.
    pub dev_guild: Option<u64>,
    /// `RUST_LOG`.
    pub rust_log: String,
    /// Overrides the token (for bad-token scenarios).
    pub token: Option<String>,
    /// `HEALTH_ADDR` (default `127.0.0.1:0`, a free port).
    pub health_addr: Option<String>,
    /// `DATABASE_URL` (default: a new file in the bot's temp dir).
    pub database_url: Option<String>,
    /// More environment variables.
    pub env: Vec<(String, String)>,
    /// Leave the bot's stdout pipe unread (a stalled log shipper): once the pipe's buffer is
    /// full, every write to it would block. stderr is still captured.
    pub stall_stdout: bool,
}

impl Default for BotOptions {
    fn default() -> Self {
        Self {
            wait_timeout: Some(3),
            dev_guild: Some(super::payloads::GUILD_ID),
            rust_log: "info,novera_assistant=debug".into(),
            token: None,
            health_addr: None,
            database_url: None,
            env: Vec::new(),
            stall_stdout: false,
        }
    }
}

/// The command that starts the bot: the binary Cargo built for this test run, unless
/// `NOVERA_BOT_COMMAND` gives another command line (words split on whitespace), for example a
/// profiler in front of the release binary: `valgrind --tool=callgrind target/release/novera-assistant`.
fn bot_command() -> Command {
    match std::env::var("NOVERA_BOT_COMMAND") {
        Ok(line) if !line.trim().is_empty() => {
            let mut words = line.split_whitespace();
            let mut command = Command::new(words.next().unwrap_or_default());
            command.args(words);
            command
        }
        _ => Command::new(env!("CARGO_BIN_EXE_novera-assistant")),
    }
}

/// A running bot process.
pub struct Bot {
    /// `DATABASE_URL` given to the bot (a file in a temp dir).
    pub database_url: String,
    /// When the bot's process image started (`spawn` returned after the exec).
    pub started: Instant,
    /// How long `spawn` itself took: the fork of this (test or benchmark) process, not the
    /// bot's start-up. It grows with this process's memory.
    pub spawn_took: Duration,
    child: Child,
    logs: Arc<Mutex<String>>,
    /// The unread stdout pipe, kept open, with [`BotOptions::stall_stdout`].
    _stalled_stdout: Option<tokio::process::ChildStdout>,
    _dir: tempfile::TempDir,
    health_port: Option<u16>,
}

impl Bot {
    /// Starts the bot against `sim` with default options.
    pub async fn start(sim: &Sim) -> Bot {
        Self::start_with(sim, BotOptions::default()).await
    }

    /// Starts the bot against `sim`.
    pub async fn start_with(sim: &Sim, options: BotOptions) -> Bot {
        // A new process cannot know when the previous one identified. (Discord counts IDENTIFYs
        // per token: this relaxes the simulator for tests that restart the bot at once.)
        sim.new_client();
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = options
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("novera.db").display()));
        let mut command = bot_command();
        command
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                "DISCORD_TOKEN",
                options
                    .token
                    .clone()
                    .unwrap_or_else(|| sim.token().to_owned()),
            )
            .env("DISCORD_API_BASE", sim.base_url())
            .env(
                "HEALTH_ADDR",
                options
                    .health_addr
                    .clone()
                    .unwrap_or_else(|| "127.0.0.1:0".into()),
            )
            .env("DATABASE_URL", &database_url)
            .env("RUST_LOG", &options.rust_log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (name, value) in &options.env {
            command.env(name, value);
        }
        if let Some(secs) = options.wait_timeout {
            command.env("WAIT_TIMEOUT_SECS", secs.to_string());
        }
        if let Some(guild) = options.dev_guild {
            command.env("DEV_GUILD_ID", guild.to_string());
        }
        // If the test process dies (a killed test run), take the bot with it: no orphans.
        // SAFETY: prctl is async-signal-safe and touches only the child's own state.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let spawn_called = Instant::now();
        let mut child = command.spawn().expect("start the bot binary");
        // `spawn` returns once the child has exec'd the binary: the bot's own clock starts here.
        let started = Instant::now();
        let logs = Arc::new(Mutex::new(String::new()));
        let mut stalled = None;
        if let Some(out) = child.stdout.take() {
            if options.stall_stdout {
                stalled = Some(out);
            } else {
                tokio::spawn(capture(BufReader::new(out), logs.clone()));
            }
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(capture(BufReader::new(err), logs.clone()));
        }
        Bot {
            database_url,
            started,
            spawn_took: started - spawn_called,
            child,
            logs,
            _stalled_stdout: stalled,
            _dir: dir,
            health_port: None,
        }
    }

    /// Everything the bot printed so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The first log line containing every one of `needles`, waiting up to [`super::REACT`]
    /// for it: log lines reach stdout from a writer thread, a little after the event.
    pub async fn wait_log(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + super::REACT;
        loop {
            let logs = self.logs();
            if let Some(line) = logs.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needles:?}. Logs:\n{logs}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many log lines so far contain every one of `needles`.
    pub fn log_count(&self, needles: &[&str]) -> usize {
        let logs = self.logs();
        logs.lines()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .count()
    }

    /// Waits up to [`super::REACT`] for at least `count` log lines containing every one of
    /// `needles` (see [`Bot::wait_log`]).
    pub async fn wait_log_count(&self, needles: &[&str], count: usize) {
        let deadline = Instant::now() + super::REACT;
        while self.log_count(needles) < count {
            assert!(
                Instant::now() < deadline,
                "fewer than {count} log lines with {needles:?}. Logs:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The bot's process id.
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// The health server's port, read from the bot's startup log.
    pub async fn health_port(&mut self) -> u16 {
        if let Some(port) = self.health_port {
            return port;
        }
        for _ in 0..200 {
            if let Some(port) = port_in_logs(&self.logs()) {
                self.health_port = Some(port);
                return port;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "the bot never logged its health address. Logs:\n{}",
            self.logs()
        );
    }

    /// The health port once known (after [`Bot::health_port`] or a healthy start).
    pub fn health_port_of(bot: &Bot) -> u16 {
        bot.health_port
            .or_else(|| port_in_logs(&bot.logs()))
            .unwrap_or(0)
    }

    /// `GET /health`: status code and JSON body.
    pub async fn health(&mut self) -> (u16, Value) {
        let port = self.health_port().await;
        let (status, body) = http_get(port, "/health")
            .await
            .unwrap_or_else(|e| panic!("GET /health failed: {e}\nLogs:\n{}", self.logs()));
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        (status, json)
    }

    /// Waits until `/health` answers `status` (e.g. 200), panicking after `deadline`.
    pub async fn wait_health(&mut self, status: u16, deadline: Duration) -> Value {
        let end = tokio::time::Instant::now() + deadline;
        let mut last = (0, Value::Null);
        while tokio::time::Instant::now() < end {
            if let Some(code) = self.try_exit() {
                panic!(
                    "the bot exited ({code:?}) while waiting for /health {status}. Logs:\n{}",
                    self.logs()
                );
            }
            last = self.health().await;
            if last.0 == status {
                return last.1;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "/health did not answer {status} within {deadline:?}; last: {last:?}\nLogs:\n{}",
            self.logs()
        );
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Sends SIGINT, as ctrl-c at a terminal does.
    pub fn sigint(&self) {
        self.signal(libc::SIGINT);
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.pid()).expect("a pid");
        // SAFETY: kill(2) only sends a signal, to our own child.
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "kill({pid}, {signal}) failed");
    }

    /// Kills the process with SIGKILL (no chance to clean up) and reaps it.
    pub async fn kill_hard(&mut self) {
        let _ = self.child.kill().await;
    }

    /// The exit status if the process has ended.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits for the process to exit, panicking after `deadline`.
    pub async fn wait_exit(&mut self, deadline: Duration) -> ExitStatus {
        match tokio::time::timeout(deadline, self.child.wait()).await {
            Ok(Ok(status)) => {
                // Let the log readers drain.
                tokio::time::sleep(Duration::from_millis(50)).await;
                status
            }
            Ok(Err(e)) => panic!("waiting for the bot failed: {e}"),
            Err(_) => panic!(
                "the bot did not exit within {deadline:?}. Logs:\n{}",
                self.logs()
            ),
        }
    }
}

/// The health port in the bot's startup log: `addr=127.0.0.1:PORT` in text logs,
/// `"addr":"127.0.0.1:PORT"` in JSON logs.
pub fn port_in_logs(logs: &str) -> Option<u16> {
    logs.lines()
        .find(|l| l.contains("health server listening"))
        .and_then(|l| l.split("127.0.0.1:").nth(1))
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|p| p.parse().ok())
}

async fn capture<R: tokio::io::AsyncRead + Unpin>(reader: BufReader<R>, logs: Arc<Mutex<String>>) {
    let mut lines = reader.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut logs = logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.push_str(&line);
        logs.push('\n');
    }
}

impl Bot {
    /// Waits until the bot's `metric` counter (summed over the samples whose labels contain
    /// `label`) reaches `count`, read from its `/metrics`. Panics after 10 s.
    pub async fn wait_counted(&mut self, metric: &str, label: &str, count: usize) {
        let port = self.health_port().await;
        let prefix = format!("{metric}{{");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut counted = 0.0;
        while Instant::now() < deadline {
            if let Ok((200, text)) = http_get(port, "/metrics").await {
                counted = text
                    .lines()
                    .filter(|l| l.starts_with(&prefix) && l.contains(label))
                    .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                    .sum();
                if counted >= count as f64 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{metric}{{{label}}} is {counted}, not {count}, after 10 s");
    }

    /// Waits until the bot has finished `count` runs of `command` (whatever their outcome):
    /// the command's own work (its role calls, its sync) is done.
    pub async fn wait_commands_done(&mut self, command: &str, count: usize) {
        let label = format!("command=\"{command}\"");
        self.wait_counted("novera_commands_total", &label, count)
            .await;
    }

    /// Waits until the bot has finished every slash command members ran so far (this process
    /// being the only one that ran them). A positive signal for proving that something did
    /// *not* happen: the work a command started is over.
    pub async fn wait_commands_finished(&mut self, sim: &Sim) {
        let run = sim.commands_run();
        self.wait_counted("novera_commands_total", "", run).await;
    }

    /// Waits until the bot has handled every member join, departure and update dispatched so
    /// far (to this process), their work included.
    pub async fn wait_member_events_handled(&mut self, sim: &Sim) {
        let sent = [
            "GUILD_MEMBER_ADD",
            "GUILD_MEMBER_REMOVE",
            "GUILD_MEMBER_UPDATE",
        ]
        .iter()
        .map(|event| sim.dispatched(event))
        .sum();
        self.wait_counted("novera_member_events_total", "", sent)
            .await;
    }
}

/// A minimal HTTP/1.1 GET on loopback: (status, body).
pub async fn http_get(port: u16, path: &str) -> Result<(u16, String), String> {
    http_request(port, "GET", path, &[], None).await
}

/// A minimal HTTP/1.1 request on loopback with a JSON body: (status, body).
pub async fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<(u16, String), String> {
    let fut = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| e.to_string())?;
        let payload = body.map(Value::to_string).unwrap_or_default();
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        if body.is_some() {
            request.push_str("Content-Type: application/json\r\n");
        }
        request.push_str(&format!(
            "Content-Length: {}\r\n\r\n{payload}",
            payload.len()
        ));
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .await
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad response: {text}"))?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    };
    tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .map_err(|_| "timed out".to_owned())?
}
