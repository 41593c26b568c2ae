//! The `freightdrop` command: parses the command line and hands over to [`freightdrop::cli`].

// mimalloc: the parsers and the SQL batches make many small allocations, and glibc's malloc
// was a third of the inbox's instructions (bench/inbox.sh: raw CSV parse 219k -> 345k rows/s).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    inbox_processor::memory::keep_freed_memory();
    // Everything the server and the commands create is for freightdrop's user only.
    freightdrop::permissions::restrict_new_files();
    freightdrop::cli::main()
}
