//! A private Postfix instance for one test, from Debian's `postfix` package: its own config
//! directory, queue and data directories and log file in a temp dir, `smtpd` on 127.0.0.1 on a
//! port of its own, the test domains relayed to freightdrop through a `transport` map. Nothing
//! outside the temp dir is read or changed (no /etc/postfix/main.cf is needed). Stopped, and its
//! processes killed if they linger, when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The services of Debian's master.cf, none chrooted (the queue dir holds no copy of /etc),
/// and `smtpd` on `127.0.0.1:PORT` instead of port 25.
const MASTER_CF: &str = "\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
";

/// A running private Postfix.
pub struct Postfix {
    dir: tempfile::TempDir,
    /// Where its `smtpd` listens on 127.0.0.1.
    pub port: u16,
}

impl Postfix {
    /// Starts an instance whose transport map holds `transport` (`domain` → `transport:nexthop`,
    /// where `{sock}` stands for [`Postfix::socket_dir`]) and whose `main.cf` gets the `extra`
    /// lines; relays only the domains of that map.
    pub fn start(transport: &[(&str, &str)], extra: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("postfix-")
            .tempdir()
            .expect("temp dir");
        // The daemons run as the postfix user and must reach their queue (and a socket there).
        chmod(dir.path(), "755");
        let root = dir.path();
        for sub in ["queue", "data", "sock"] {
            std::fs::create_dir(root.join(sub)).expect("postfix dirs");
        }
        chmod(&root.join("sock"), "755");
        run(Command::new("chown").arg("postfix").arg(root.join("data")));
        let map: String = transport
            .iter()
            .map(|(domain, to)| {
                let to = to.replace("{sock}", &root.join("sock").display().to_string());
                format!("{domain} {to}\n")
            })
            .collect();
        std::fs::write(root.join("transport"), map).expect("transport map");
        let relayed: Vec<&str> = transport.iter().map(|(domain, _)| *domain).collect();
        let main_cf = format!(
            "compatibility_level = 3.6\n\
             queue_directory = {root}/queue\n\
             data_directory = {root}/data\n\
             mail_owner = postfix\n\
             setgid_group = postdrop\n\
             inet_interfaces = 127.0.0.1\n\
             inet_protocols = ipv4\n\
             myhostname = postfix-test.invalid\n\
             mydestination =\n\
             relay_domains = {relayed}\n\
             transport_maps = texthash:{root}/transport\n\
             mynetworks = 127.0.0.0/8\n\
             alias_maps =\n\
             alias_database =\n\
             local_recipient_maps =\n\
             maillog_file_prefixes = {root}\n\
             maillog_file = {root}/maillog\n\
             smtputf8_enable = no\n\
             smtp_dns_support_level = disabled\n\
             biff = no\n\
             minimal_backoff_time = 1s\n\
             maximal_backoff_time = 2s\n\
             queue_run_delay = 1s\n\
             transport_retry_time = 1s\n\
             {extra}\n",
            root = root.display(),
            relayed = relayed.join(", "),
        );
        std::fs::write(root.join("main.cf"), main_cf).expect("main.cf");
        // The port is picked free, then bound by Postfix's master: another process may take it
        // in between, so a start that fails is tried again on another port.
        let mut postfix = Self { dir, port: 0 };
        let mut last = String::new();
        for _ in 0..3 {
            postfix.port = free_port();
            std::fs::write(
                postfix.dir().join("master.cf"),
                format!(
                    "127.0.0.1:{} inet n - n - - smtpd\n{MASTER_CF}",
                    postfix.port
                ),
            )
            .expect("master.cf");
            let out = postfix.command("postfix", &["start"]);
            if out.status.success() && postfix.answers() {
                return postfix;
            }
            last = format!(
                "{}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                postfix.log()
            );
            postfix.stop();
        }
        panic!("postfix did not start:\n{last}");
    }

    /// The config directory (`postfix -c DIR`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A directory the postfix user can reach, for freightdrop's LMTP socket.
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    /// Postfix's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    /// The log lines about one recipient's delivery (`to=<...>` with a `status=`).
    pub fn deliveries(&self, to: &str) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains(&format!("to=<{to}>")) && l.contains("status="))
            .map(str::to_owned)
            .collect()
    }

    /// Waits until a log line about `to` has `status=STATUS`; returns that line.
    pub fn wait_status(&self, to: &str, status: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(line) = self
                .deliveries(to)
                .into_iter()
                .find(|l| l.contains(&format!("status={status}")))
            {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no status={status} for {to} in the Postfix log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `postqueue -p`: what is in the queue.
    pub fn queue(&self) -> String {
        let out = self.command("postqueue", &["-p"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Whether the queue is empty.
    pub fn queue_is_empty(&self) -> bool {
        self.queue().contains("Mail queue is empty")
    }

    /// `postqueue -f`: deliver what is queued now.
    pub fn flush(&self) {
        let out = self.command("postqueue", &["-f"]);
        assert!(out.status.success(), "postqueue -f: {out:?}");
    }

    /// Runs `PROGRAM -c DIR ARGS` with a time limit.
    fn command(&self, program: &str, args: &[&str]) -> std::process::Output {
        Command::new("timeout")
            .arg("30")
            .arg(program)
            .arg("-c")
            .arg(self.dir.path())
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {program} (scripts/setup installs postfix): {e}"))
    }

    /// Whether smtpd greets on its port within 10 s.
    fn answers(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = [0u8; 4];
                if std::io::Read::read_exact(&mut s, &mut buf).is_ok() && &buf == b"220 " {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The master's process id, from its pid file.
    fn master_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.path().join("queue/pid/master.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// `postfix stop`, then SIGKILL to the master and its process group if still there after 10 s.
    fn stop(&self) {
        let pid = self.master_pid();
        let _ = self.command("postfix", &["stop"]);
        let Some(pid) = pid else { return };
        let alive = || Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid);
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        // The master leads its own process group, its daemons with it.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nobody listens on at this moment.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("pick a free port")
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

fn chmod(path: &Path, mode: &str) {
    run(Command::new("chmod").arg(mode).arg(path));
}

fn run(command: &mut Command) {
    let status = command.status().expect("run a setup command");
    assert!(status.success(), "{command:?} failed");
}
