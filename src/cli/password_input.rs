//! Where a new password comes from on the command line: standard input, a generated one, or a
//! prompt on the terminal, typed twice without echo.

use std::io::BufRead;

use clap::Args;

use super::Failure;
use crate::users::Password;

/// How a password is given on the command line: one of these flags, or neither for a prompt.
#[derive(Debug, Args)]
pub(crate) struct PasswordArgs {
    /// Read the password from the first line of standard input.
    #[arg(long, conflicts_with = "generate_password")]
    password_stdin: bool,
    /// Generate a strong password and print it once.
    #[arg(long)]
    generate_password: bool,
}

impl PasswordArgs {
    /// The source these flags choose.
    pub(crate) fn source(&self) -> Source {
        Source::from_flags(self.password_stdin, self.generate_password)
    }
}

/// How the password is given.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source {
    /// One line on standard input.
    Stdin,
    /// Generated, and printed once.
    Generate,
    /// Asked for on the terminal.
    Prompt,
}

impl Source {
    /// The source chosen by the two flags (clap keeps them exclusive).
    pub(crate) fn from_flags(stdin: bool, generate: bool) -> Self {
        match (stdin, generate) {
            (true, _) => Self::Stdin,
            (_, true) => Self::Generate,
            _ => Self::Prompt,
        }
    }
}

/// Reads or makes the password.
pub(crate) fn obtain(source: Source) -> Result<Password, Failure> {
    match source {
        Source::Generate => Ok(Password::generate()),
        Source::Stdin => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).map_err(|e| {
                Failure::failed(format!("cannot read the password from standard input: {e}"))
            })?;
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                return Err(Failure::usage(
                    "no password on standard input (give one line, e.g. `echo \"$PW\" | freightdrop user add ... --password-stdin`)",
                ));
            }
            Ok(Password::new(line))
        }
        Source::Prompt => {
            let no_tty = |e: std::io::Error| {
                Failure::usage(format!(
                    "cannot prompt for a password ({e}); use --password-stdin or --generate-password"
                ))
            };
            let first = rpassword::prompt_password("Password: ").map_err(no_tty)?;
            let second = rpassword::prompt_password("Password again: ").map_err(no_tty)?;
            if first != second {
                return Err(Failure::usage(
                    "the two passwords differ; nothing was changed",
                ));
            }
            Ok(Password::new(first))
        }
    }
}
