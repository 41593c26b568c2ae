//! The `freightdrop` command: parses the command line and hands over to [`freightdrop::cli`].

fn main() -> std::process::ExitCode {
    freightdrop::cli::main()
}
