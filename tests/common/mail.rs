//! What the mail tests share: the accepted domain, the flags of an account that takes mail, and
//! swaks run as a partner's mail software runs it (from `orders@partner.example`).

use std::path::Path;
use std::process::Command;

/// The domain the mail tests' servers accept mail for.
pub const DOMAIN: &str = "orders.example";

/// `user add` flags of an account that may receive files by mail.
pub const MAIL: &[&str] = &["--protocols", "ftp,ftps,sftp,mail"];

/// Runs swaks with `args`, from `orders@partner.example`; returns whether it succeeded and its
/// whole transcript.
pub fn swaks<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (bool, String) {
    let out = Command::new("swaks")
        .args(["--from", "orders@partner.example", "--timeout", "30"])
        .args(args)
        .output()
        .expect("run swaks (scripts/setup installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// swaks arguments that send `file` as the attachment `name` of type `mime` to `to` over SMTP
/// on 127.0.0.1:`port`.
pub fn attachment(port: u16, to: &str, name: &str, mime: &str, file: &Path) -> Vec<String> {
    vec![
        "--server".into(),
        "127.0.0.1".into(),
        "--port".into(),
        port.to_string(),
        "--to".into(),
        to.into(),
        "--attach-type".into(),
        mime.into(),
        "--attach-name".into(),
        name.into(),
        "--attach".into(),
        format!("@{}", file.display()),
    ]
}
