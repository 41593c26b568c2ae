//! One conformance suite for every channel a partner's files come and go by: a table of
//! partner-file scenarios, each run through FTP, FTPS and SFTP with the real clients of each
//! (Python's ftplib, plain and FTP_TLS with a protected data channel; paramiko), so that a rule
//! can't hold on one protocol and not on another. The rules are ARCHITECTURE.md's invariants
//! and issue 11's findings: uploads appear whole or not at all, a cut upload is never seen nor
//! processed, listings hide partials, a rename never replaces (posix-rename included), the
//! reserved folders stay, a rename into the inbox is processed once, only a whole download is
//! recorded, and an upload over a published file is recorded as its replacement.
//!
//! A scenario is a function of a [`Case`] (a fresh server, one partner, one [`Channel`]);
//! `for_every_channel!` makes one test per scenario and channel (`atomic_upload::sftp`), and
//! every failure names both. The channels speak through one driver per client library
//! (tests/conformance/driver.py), which takes the same small set of operations on every
//! channel; a new channel (mail, HTTP upload) is one arm of [`Channel`], one line of
//! `for_every_channel!`, and a driver that understands those operations.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use common::inbox::{names_in, orders_csv, placed};
use common::server::TestServer;
use common::{stderr, stdout, Backend};

const USER: &str = "acme";
const PASSWORD: &str = "partner password 1";
/// The reserved folders of every home.
const RESERVED: [&str; 3] = ["out", "done", "error"];

/// A way partners' files come in and go out, each spoken with its own real client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    /// Plain FTP with Python's ftplib.
    Ftp,
    /// FTPS (AUTH TLS, PROT P) with ftplib's FTP_TLS.
    Ftps,
    /// SFTP with paramiko.
    Sftp,
}

impl Channel {
    fn name(self) -> &'static str {
        match self {
            Channel::Ftp => "ftp",
            Channel::Ftps => "ftps",
            Channel::Sftp => "sftp",
        }
    }

    /// The server's listener it talks to (a `listening` line of `serve`).
    fn listener(self) -> &'static str {
        match self {
            Channel::Ftp | Channel::Ftps => "ftp",
            Channel::Sftp => "sftp",
        }
    }

    /// Every way the channel has to rename (the driver's `how`).
    fn rename_ways(self) -> &'static [&'static str] {
        match self {
            Channel::Ftp | Channel::Ftps => &["rnfr"],
            Channel::Sftp => &["rename", "posix_rename"],
        }
    }

    /// The driver process for `user` on `server`: JSON operations in, JSON answers out.
    fn driver(self, server: &TestServer, user: &str, password: &str) -> Command {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/driver.py");
        let mut command = Command::new("timeout");
        command
            .arg("300")
            .arg("python3")
            .arg(script)
            .arg(self.name())
            .arg(server.port(self.listener()).to_string())
            .args([user, password]);
        command
    }
}

/// One scenario on one channel: a fresh server with the partner `acme` (customer 1234).
struct Case {
    scenario: &'static str,
    channel: Channel,
    server: TestServer,
}

impl Case {
    /// Fails the test, naming the scenario and the channel, with the end of the server's log.
    fn fail(&self, message: &str) -> ! {
        let log = self.server.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        panic!(
            "[{} over {}] {message}\n--- server log (end) ---\n{tail}",
            self.scenario,
            self.channel.name()
        );
    }

    fn ensure(&self, holds: bool, message: impl FnOnce() -> String) {
        if !holds {
            self.fail(&message());
        }
    }

    /// Waits until `check` holds, polling, up to `within`; fails naming `what` otherwise.
    fn wait_for(&self, what: &str, within: Duration, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + within;
        while !check() {
            if Instant::now() > deadline {
                self.fail(&format!("timed out waiting for {what}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn home(&self) -> PathBuf {
        self.server.env.home(USER)
    }

    /// A new driver (its sessions log in on first use).
    fn client(&self) -> Client<'_> {
        let mut child = self
            .channel
            .driver(&self.server, USER, PASSWORD)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| self.fail(&format!("cannot start the driver: {e}")));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().map(BufReader::new);
        Client {
            case: self,
            child,
            stdin,
            stdout,
        }
    }

    /// Waits until the home holds `count` hidden files: uploads the server has begun to write
    /// (wherever in the home it keeps them; a server may buffer their first bytes).
    fn wait_for_partials(&self, what: &str, count: usize) {
        self.wait_for(
            &format!("the server to begin {what}"),
            Duration::from_secs(20),
            || hidden_files(&self.home()).len() >= count,
        );
    }

    /// How many times the server logged `name` as arrived in the inbox.
    fn arrivals(&self, name: &str) -> usize {
        self.server
            .log()
            .lines()
            .map(strip_ansi)
            .filter(|l| l.contains("file arrived in inbox") && names_field(l, "file", name))
            .count()
    }

    /// The inbox ledger's rows of `name` (`freightdrop files --json`).
    fn ledger_rows(&self, name: &str) -> Vec<Value> {
        let out = self.server.env.cli(
            &["files", "--user", USER, "--json", "--limit", "1000"],
            None,
        );
        self.ensure(out.status.success(), || {
            format!("freightdrop files: {}", stderr(&out))
        });
        let rows: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| self.fail(&format!("files --json: {e}: {}", stdout(&out))));
        rows.as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|row| row["name"] == name)
            .collect()
    }

    /// Publishes `content` as `out/<name>` with `freightdrop publish`.
    fn publish(&self, name: &str, content: &[u8]) {
        let local = self.server.env.dir.path().join(name);
        std::fs::write(&local, content).expect("write the file to publish");
        let path = local.to_str().expect("a UTF-8 path");
        let out = self.server.env.cli(&["publish", USER, path], None);
        self.ensure(out.status.success(), || {
            format!("publish {name}: {}", stderr(&out))
        });
    }

    /// A bearer token of a new backoffice admin.
    fn staff_token(&self) -> String {
        let env = &self.server.env;
        let out = env.cli(
            &["admin", "add", "boss", "--password-stdin"],
            Some("admin password 1\n"),
        );
        self.ensure(out.status.success(), || {
            format!("admin add: {}", stderr(&out))
        });
        let out = env.cli(&["admin", "token", "boss"], None);
        self.ensure(out.status.success(), || {
            format!("admin token: {}", stderr(&out))
        });
        stdout(&out).trim().to_owned()
    }

    /// The outgoing-file ledger's record of `out/<name>`, through the backoffice API.
    fn outgoing(&self, token: &str, name: &str) -> Value {
        let url = format!(
            "http://{}/api/v1/outgoing?user={USER}",
            self.server.addr("http")
        );
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "30", "-H"])
            .arg(format!("Authorization: Bearer {token}"))
            .arg(url)
            .output()
            .expect("run curl");
        self.ensure(out.status.success(), || {
            format!("GET /api/v1/outgoing: {}", stderr(&out))
        });
        let files: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| self.fail(&format!("/api/v1/outgoing: {e}: {}", stdout(&out))));
        files["files"]
            .as_array()
            .and_then(|files| files.iter().find(|f| f["name"] == name))
            .cloned()
            .unwrap_or(Value::Null)
    }
}

/// A running driver: one partner's client on the case's channel.
struct Client<'a> {
    case: &'a Case,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Option<BufReader<ChildStdout>>,
}

impl Client<'_> {
    /// Sends one operation; returns the driver's answer. A driver's own mistake fails the test.
    fn call(&mut self, op: Value) -> Value {
        let case = self.case;
        let (Some(stdin), Some(stdout)) = (self.stdin.as_mut(), self.stdout.as_mut()) else {
            case.fail("the driver is closed");
        };
        let sent = writeln!(stdin, "{op}").and_then(|()| stdin.flush());
        if let Err(e) = sent {
            case.fail(&format!("the driver stopped (sending {op}): {e}"));
        }
        let mut line = String::new();
        match stdout.read_line(&mut line) {
            Ok(n) if n > 0 => {}
            _ => case.fail(&format!("the driver stopped without answering {op}")),
        }
        let answer: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| case.fail(&format!("the driver answered {line:?}: {e}")));
        if let Some(mistake) = answer.get("driver_error") {
            case.fail(&format!("driver error on {op}: {mistake}"));
        }
        answer
    }

    /// `op` must succeed; `what` says what it was, for the failure.
    fn must(&mut self, what: &str, op: Value) -> Value {
        let answer = self.call(op.clone());
        self.case.ensure(answer["ok"] == true, || {
            format!("{what} failed: {op} -> {answer}")
        });
        answer
    }

    /// `op` must be refused; `what` says what it was, for the failure.
    fn refused(&mut self, what: &str, op: Value) {
        let answer = self.call(op.clone());
        self.case.ensure(answer["ok"] == false, || {
            format!("{what} was allowed: {op} -> {answer}")
        });
    }

    /// Every listing of `path` the channel has, on `session`: (how, names).
    fn listings(&mut self, session: &str, path: &str) -> Vec<(String, Vec<String>)> {
        let answer = self.must(
            &format!("listing {path}"),
            json!({"op": "list", "session": session, "path": path}),
        );
        let Some(listings) = answer["listings"].as_object() else {
            self.case
                .fail(&format!("a listing without listings: {answer}"));
        };
        listings
            .iter()
            .map(|(how, names)| {
                let names = names
                    .as_array()
                    .map(|names| {
                        names
                            .iter()
                            .filter_map(|n| n.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                (how.clone(), names)
            })
            .collect()
    }

    /// Downloads `path` whole on `session` and checks it is `content`.
    fn expect_content(&mut self, session: &str, path: &str, content: &[u8]) {
        let got = self.must(
            &format!("downloading {path}"),
            json!({"op": "get", "session": session, "path": path}),
        );
        let case = self.case;
        case.ensure(
            got["size"] == content.len() && got["sha256"] == sha256(content),
            || {
                format!(
                    "{path} is not what was written ({} bytes): {got}",
                    content.len()
                )
            },
        );
    }

    fn mkdir(&mut self, path: &str) {
        self.must(
            &format!("mkdir {path}"),
            json!({"op": "mkdir", "path": path}),
        );
    }

    fn put(&mut self, path: &str, data: &str) {
        self.must(
            &format!("uploading {path}"),
            json!({"op": "put", "path": path, "data": data}),
        );
    }
}

impl Drop for Client<'_> {
    fn drop(&mut self) {
        // End of input: the driver logs its sessions out and exits.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha256(content: &[u8]) -> String {
    hex::encode(Sha256::digest(content))
}

/// Text of `len` bytes that differs along its length (so a spliced file doesn't match).
fn text_of(len: usize, seed: u32) -> String {
    (0..len)
        .map(|i| {
            let n = (i as u32).wrapping_mul(7).wrapping_add(seed) % 62;
            char::from(
                b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[n as usize],
            )
        })
        .collect()
}

/// Every hidden file (name starting with '.') under `dir`.
fn hidden_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            found.extend(hidden_files(&path));
        } else if entry.file_name().to_string_lossy().starts_with('.') {
            found.push(path);
        }
    }
    found
}

/// A listed name that is internal to the server: hidden (`.` and `..` aside).
fn is_internal(name: &str) -> bool {
    name.starts_with('.') && name != "." && name != ".."
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether a log line has the field `key=value` exactly.
fn names_field(line: &str, key: &str, value: &str) -> bool {
    line.split_whitespace()
        .any(|word| word == format!("{key}={value}") || word == format!("{key}=\"{value}\""))
}

// ---- The scenarios -------------------------------------------------------------------------

/// While an upload is in progress its final name doesn't exist, for the partner (listed or
/// looked up from a second session) nor on disk; once it completed the file is there, whole.
fn atomic_upload(case: &Case) {
    let (first, rest) = (text_of(100_000, 1), text_of(100_000, 2));
    let whole = format!("{first}{rest}");
    let mut c = case.client();
    c.must(
        "starting the upload",
        json!({"op": "begin_upload", "path": "/out/atomic.csv", "data": first}),
    );
    case.wait_for_partials("the upload", 1);
    let real = case.home().join("out/atomic.csv");
    case.ensure(!real.exists(), || {
        "the final name exists on disk while the upload is in progress".into()
    });
    for (how, names) in c.listings("b", "/out") {
        case.ensure(!names.iter().any(|n| n == "atomic.csv"), || {
            format!("{how} of /out shows the upload in progress: {names:?}")
        });
    }
    c.refused(
        "looking up the final name during the upload",
        json!({"op": "stat", "session": "b", "path": "/out/atomic.csv"}),
    );
    c.must("sending the rest", json!({"op": "write", "data": rest}));
    c.must("finishing the upload", json!({"op": "finish_upload"}));
    let size = c.must(
        "looking up the file after the upload",
        json!({"op": "stat", "session": "b", "path": "/out/atomic.csv"}),
    );
    case.ensure(size["size"] == whole.len(), || {
        format!("the size after the upload: {size}")
    });
    c.expect_content("b", "/out/atomic.csv", whole.as_bytes());
    let on_disk = std::fs::read(&real).unwrap_or_default();
    case.ensure(on_disk == whole.as_bytes(), || {
        format!(
            "the file on disk has {} bytes, not the whole upload",
            on_disk.len()
        )
    });
    for (how, names) in c.listings("b", "/out") {
        case.ensure(names.iter().any(|n| n == "atomic.csv"), || {
            format!("{how} of /out lacks the completed upload: {names:?}")
        });
    }
}

/// An upload cut off in the middle (FTP: the data connection reset; FTPS: closed without TLS
/// close_notify; SFTP: the SSH connection dropped before CLOSE) is never confirmed, never
/// appears under its name, is never processed (a file uploaded after it is, and it isn't),
/// and leaves no partial behind.
fn cut_upload_is_never_seen_nor_processed(case: &Case) {
    let ids: Vec<String> = (0..1500).map(|i| format!("S{i:05}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let content = orders_csv("1234", &ids);
    let part = &content[..content.len() / 2];
    let mut c = case.client();
    c.must(
        "starting the upload",
        json!({"op": "begin_upload", "path": "/cut.csv", "data": part}),
    );
    case.wait_for_partials("the upload", 1);
    let cut = c.must("cutting the upload", json!({"op": "cut_upload"}));
    case.ensure(cut["confirmed"] == false, || {
        format!("the server confirmed a cut upload: {cut}")
    });
    // A good file after it: once that one is processed, the inbox has had its chance.
    c.put("/control.csv", &orders_csv("1234", &["C1"]));
    let home = case.home();
    case.wait_for(
        "the control file to be processed",
        Duration::from_secs(60),
        || {
            let (done, error) = placed(&home);
            done.iter().chain(&error).any(|n| n == "control.csv")
        },
    );
    case.wait_for(
        "the cut upload's partial to be removed",
        Duration::from_secs(30),
        || hidden_files(&home).is_empty(),
    );
    case.ensure(!home.join("cut.csv").exists(), || {
        "the cut upload is in the inbox under its name".into()
    });
    let (done, error) = placed(&home);
    case.ensure(
        done.iter().chain(&error).all(|n| n == "control.csv"),
        || format!("done/ {done:?} and error/ {error:?} hold more than the control file"),
    );
    case.ensure(case.arrivals("cut.csv") == 0, || {
        "the cut upload was logged as arrived in the inbox".into()
    });
    case.ensure(case.ledger_rows("cut.csv").is_empty(), || {
        "the cut upload is in the inbox ledger".into()
    });
    for (how, names) in c.listings("b", "/") {
        case.ensure(!names.iter().any(|n| n.contains("cut.csv")), || {
            format!("{how} of / shows the cut upload: {names:?}")
        });
    }
}

/// Every listing, from a second session, of a folder with an upload in progress (the inbox
/// and out/) shows neither the partial nor the final name (finding 1: SFTP listed partials).
fn listing_hides_partials(case: &Case) {
    let part = text_of(50_000, 3);
    let mut c = case.client();
    c.must(
        "starting an upload into out/",
        json!({"op": "begin_upload", "session": "a", "path": "/out/in-progress.csv", "data": part}),
    );
    c.must(
        "starting an upload into the inbox",
        json!({"op": "begin_upload", "session": "c", "path": "/in-progress.csv", "data": part}),
    );
    case.wait_for_partials("both uploads", 2);
    for folder in ["/", "/out"] {
        for (how, names) in c.listings("b", folder) {
            case.ensure(!names.iter().any(|n| is_internal(n)), || {
                format!("{how} of {folder} shows a partial upload: {names:?}")
            });
            case.ensure(!names.iter().any(|n| n == "in-progress.csv"), || {
                format!("{how} of {folder} shows an upload in progress: {names:?}")
            });
        }
    }
    c.must(
        "finishing the upload into out/",
        json!({"op": "finish_upload", "session": "a"}),
    );
    c.must(
        "finishing the upload into the inbox",
        json!({"op": "finish_upload", "session": "c"}),
    );
    for (how, names) in c.listings("b", "/out") {
        case.ensure(names.iter().any(|n| n == "in-progress.csv"), || {
            format!("{how} of /out lacks the completed upload: {names:?}")
        });
    }
}

/// A rename onto an existing file or folder is refused, by every way the channel has to
/// rename (finding 2: SFTP's posix-rename@openssh.com replaced the target), and both stay as
/// they were; a rename onto a free name works.
fn rename_never_replaces(case: &Case) {
    let mut c = case.client();
    c.mkdir("/keep");
    c.put("/keep/first.csv", "first\n");
    c.put("/keep/second.csv", "second\n");
    c.mkdir("/keep/d1");
    c.mkdir("/keep/d2");
    for way in case.channel.rename_ways() {
        c.refused(
            &format!("renaming ({way}) a file onto an existing file"),
            json!({"op": "rename", "source": "/keep/first.csv", "target": "/keep/second.csv", "how": way}),
        );
        c.refused(
            &format!("renaming ({way}) a folder onto an existing empty folder"),
            json!({"op": "rename", "source": "/keep/d1", "target": "/keep/d2", "how": way}),
        );
        let free = format!("/keep/moved-{way}.csv");
        c.must(
            &format!("renaming ({way}) a file onto a free name"),
            json!({"op": "rename", "source": "/keep/first.csv", "target": free, "how": way}),
        );
        c.must(
            &format!("renaming ({way}) it back"),
            json!({"op": "rename", "source": free, "target": "/keep/first.csv", "how": way}),
        );
    }
    let keep = case.home().join("keep");
    for (name, content) in [("first.csv", "first\n"), ("second.csv", "second\n")] {
        let on_disk = std::fs::read_to_string(keep.join(name)).unwrap_or_default();
        case.ensure(on_disk == content, || {
            format!("{name} is {on_disk:?} after the refused renames, not {content:?}")
        });
        c.expect_content("b", &format!("/keep/{name}"), content.as_bytes());
    }
    for folder in ["d1", "d2"] {
        case.ensure(keep.join(folder).is_dir(), || {
            format!("the folder {folder} is gone after the refused renames")
        });
    }
}

/// Concurrent renames of two files onto one free name: exactly one wins, round after round,
/// and the other file stays (finding 4: FTP checked and then renamed, a race).
fn racing_renames_never_replace(case: &Case) {
    const ROUNDS: usize = 12;
    let mut c = case.client();
    c.mkdir("/race");
    for way in case.channel.rename_ways() {
        let mut pairs = Vec::new();
        for i in 0..ROUNDS {
            let (a, b) = (format!("/race/{way}-a-{i}"), format!("/race/{way}-b-{i}"));
            c.put(&a, "a\n");
            c.put(&b, "b\n");
            pairs.push(json!([a, b]));
        }
        let target = format!("/race/{way}-target");
        let answer = c.must(
            &format!("racing renames ({way})"),
            json!({"op": "race_renames", "session": "a", "with": "b", "pairs": pairs, "to": target, "how": way}),
        );
        let race = case.home().join("race");
        for i in 0..ROUNDS {
            let won = &answer["rounds"][i];
            let wins = [won[0] == true, won[1] == true];
            case.ensure(wins.iter().filter(|w| **w).count() == 1, || {
                format!("round {i} ({way}): not exactly one rename succeeded: {won}")
            });
            let (winner, loser) = if wins[0] { ("a", "b") } else { ("b", "a") };
            let content =
                std::fs::read_to_string(race.join(format!("{way}-target-{i}"))).unwrap_or_default();
            case.ensure(content == format!("{winner}\n"), || {
                format!("round {i} ({way}): the target holds {content:?}, not the winner {winner}'s file")
            });
            case.ensure(race.join(format!("{way}-{loser}-{i}")).is_file(), || {
                format!("round {i} ({way}): the losing file {loser} is gone: it was replaced")
            });
        }
    }
}

/// `out/`, `done/` and `error/` can't be removed (however the path is spelled) nor renamed,
/// nor renamed onto.
fn reserved_folders_stay(case: &Case) {
    let mut c = case.client();
    c.mkdir("/mine");
    for folder in RESERVED {
        for spelling in [
            format!("/{folder}"),
            folder.to_string(),
            format!("/{folder}/"),
            format!("/mine/../{folder}"),
        ] {
            c.refused(
                &format!("removing the folder {spelling}"),
                json!({"op": "rmdir", "path": spelling}),
            );
        }
        c.refused(
            &format!("deleting {folder} as a file"),
            json!({"op": "remove", "path": format!("/{folder}")}),
        );
        for way in case.channel.rename_ways() {
            c.refused(
                &format!("renaming ({way}) /{folder}"),
                json!({"op": "rename", "source": format!("/{folder}"), "target": format!("/renamed-{folder}"), "how": way}),
            );
            c.refused(
                &format!("renaming ({way}) a folder onto /{folder}"),
                json!({"op": "rename", "source": "/mine", "target": format!("/{folder}"), "how": way}),
            );
        }
    }
    let home = case.home();
    for folder in RESERVED {
        case.ensure(home.join(folder).is_dir(), || {
            format!("the reserved folder {folder} is gone")
        });
        case.ensure(!home.join(format!("renamed-{folder}")).exists(), || {
            format!("the reserved folder {folder} was renamed")
        });
    }
    case.ensure(home.join("mine").is_dir(), || {
        "the partner's own folder is gone".into()
    });
    for (how, names) in c.listings("b", "/") {
        for folder in RESERVED.iter().chain(&["mine"]) {
            case.ensure(names.iter().any(|n| n == folder), || {
                format!("{how} of / lacks {folder}: {names:?}")
            });
        }
    }
}

/// A file renamed into the inbox (from a sub-folder, or from a temporary name in the inbox)
/// is processed exactly once: placed once, logged as arrived once, one ledger row.
fn rename_into_inbox_is_processed_once(case: &Case) {
    let ways = case.channel.rename_ways();
    let (first_way, last_way) = (ways[0], ways[ways.len() - 1]);
    let mut c = case.client();
    c.mkdir("/sub");
    c.put("/sub/via-folder.csv", &orders_csv("1234", &["F1"]));
    c.put("/via-temp.csv.tmp", &orders_csv("1234", &["T1"]));
    c.must(
        &format!("renaming ({first_way}) a file from a sub-folder into the inbox"),
        json!({"op": "rename", "source": "/sub/via-folder.csv", "target": "/via-folder.csv", "how": first_way}),
    );
    c.must(
        &format!("renaming ({last_way}) a temporary name in the inbox to its real name"),
        json!({"op": "rename", "source": "/via-temp.csv.tmp", "target": "/via-temp.csv", "how": last_way}),
    );
    let home = case.home();
    let names = ["via-folder.csv", "via-temp.csv"];
    case.wait_for(
        "both renamed files to be processed",
        Duration::from_secs(60),
        || {
            let (done, error) = placed(&home);
            names
                .iter()
                .all(|name| done.iter().chain(&error).any(|n| n == name))
        },
    );
    let (done, error) = placed(&home);
    case.ensure(done.len() + error.len() == 2, || {
        format!("done/ {done:?} and error/ {error:?} should hold the two files once each")
    });
    for name in names {
        case.ensure(!home.join(name).exists(), || {
            format!("{name} is still in the inbox after it was placed")
        });
        let arrivals = case.arrivals(name);
        case.ensure(arrivals == 1, || {
            format!("{name} was logged as arrived {arrivals} times, not once")
        });
        let rows = case.ledger_rows(name);
        case.ensure(rows.len() == 1, || {
            format!("{name} has {} ledger rows, not one: {rows:?}", rows.len())
        });
    }
    case.ensure(case.arrivals("via-temp.csv.tmp") == 0, || {
        "a temporary name was logged as arrived".into()
    });
}

/// Of two published files, one downloaded whole on one session and one read in part and given
/// up on another, the outgoing ledger records only the whole download.
fn only_a_whole_download_is_recorded(case: &Case) {
    let token = case.staff_token();
    let whole = text_of(10_000, 4);
    case.publish("whole.txt", whole.as_bytes());
    // Far bigger than the socket buffers of loopback, so a server can't have sent it all
    // before the client gives up.
    let big: Vec<u8> = (0..40_000_000u32).map(|i| (i % 251) as u8).collect();
    case.publish("part.bin", &big);
    let mut c = case.client();
    let part = c.must(
        "reading part of a published file",
        json!({"op": "get_part", "session": "b", "path": "/out/part.bin", "count": 65536}),
    );
    c.must("logging out", json!({"op": "quit", "session": "b"}));
    case.ensure(part["read"].as_u64() < Some(big.len() as u64), || {
        format!("the partial download read everything: {part}")
    });
    c.expect_content("a", "/out/whole.txt", whole.as_bytes());
    case.wait_for(
        "the whole download to be recorded",
        Duration::from_secs(20),
        || case.outgoing(&token, "whole.txt")["downloads"] == 1,
    );
    let record = case.outgoing(&token, "part.bin");
    case.ensure(record["downloads"] == 0, || {
        format!("a partial download was recorded as a download: {record}")
    });
    let record = case.outgoing(&token, "whole.txt");
    case.ensure(record["downloads"] == 1, || {
        format!("the whole download is not recorded once: {record}")
    });
}

/// A partner's upload onto the name of a file published to its out/ is refused (nothing a
/// partner does replaces a file) and leaves the file and its record as they were; an append to
/// it extends it, replaces it whole, and the outgoing ledger closes the published file's record
/// as replaced.
fn a_replaced_outgoing_file_is_recorded(case: &Case) {
    let token = case.staff_token();
    case.publish("report.xml", b"<statuses/>\n");
    let mut c = case.client();
    c.refused(
        "an upload onto the published name",
        json!({"op": "put", "path": "/out/report.xml", "data": "<replaced/>\n"}),
    );
    let on_disk = std::fs::read_to_string(case.home().join("out/report.xml")).unwrap_or_default();
    case.ensure(on_disk == "<statuses/>\n", || {
        format!("out/report.xml holds {on_disk:?} after a refused upload")
    });
    case.ensure(
        case.outgoing(&token, "report.xml")["moved_to"].is_null(),
        || "a refused upload closed the record".into(),
    );
    c.must(
        "appending to the published file",
        json!({"op": "append", "path": "/out/report.xml", "data": "<more/>\n"}),
    );
    case.wait_for(
        "the replacement to be recorded",
        Duration::from_secs(20),
        || case.outgoing(&token, "report.xml")["moved_to"] == "replaced",
    );
    let on_disk = std::fs::read_to_string(case.home().join("out/report.xml")).unwrap_or_default();
    case.ensure(on_disk == "<statuses/>\n<more/>\n", || {
        format!("out/report.xml holds {on_disk:?} after the append")
    });
    let record = case.outgoing(&token, "report.xml");
    case.ensure(record["downloads"] == 0, || {
        format!("the replaced file counts a download: {record}")
    });
    case.ensure(names_in(&case.home().join("out")) == ["report.xml"], || {
        "out/ holds more than the replacement".into()
    });
}

// ---- The table -----------------------------------------------------------------------------

/// Runs `scenario` over `channel` on a fresh server.
async fn run(name: &'static str, channel: Channel, scenario: fn(&Case)) {
    let server = TestServer::start(Backend::Sqlite, &[]).await;
    server.add_user(USER, PASSWORD, &[]);
    let case = Case {
        scenario: name,
        channel,
        server,
    };
    scenario(&case);
}

/// One test per channel for `scenario`: `scenario::ftp`, `scenario::ftps`, `scenario::sftp`.
/// A new channel is one line here (and one arm of [`Channel`]).
macro_rules! for_every_channel {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use super::{run, Channel};

            #[tokio::test]
            async fn ftp() {
                run(stringify!($scenario), Channel::Ftp, super::$scenario).await;
            }

            #[tokio::test]
            async fn ftps() {
                run(stringify!($scenario), Channel::Ftps, super::$scenario).await;
            }

            #[tokio::test]
            async fn sftp() {
                run(stringify!($scenario), Channel::Sftp, super::$scenario).await;
            }
        }
    )*};
}

for_every_channel!(
    atomic_upload,
    cut_upload_is_never_seen_nor_processed,
    listing_hides_partials,
    rename_never_replaces,
    racing_renames_never_replace,
    reserved_folders_stay,
    rename_into_inbox_is_processed_once,
    only_a_whole_download_is_recorded,
    a_replaced_outgoing_file_is_recorded,
);

#[test]
fn log_fields_are_matched_exactly() {
    let line = strip_ansi(
        "INFO freightdrop::inbox: file arrived in inbox \u{1b}[3muser\u{1b}[0m=acme \u{1b}[3mfile\u{1b}[0m=a.csv.tmp",
    );
    assert!(names_field(&line, "file", "a.csv.tmp"));
    assert!(!names_field(&line, "file", "a.csv"));
}
