//! `iiswsgi-bench`: the benchmark of docs/PERFORMANCE.md.

#[cfg(unix)]
fn main() -> std::process::ExitCode {
    iiswsgi_harness::bench_cli::main()
}

#[cfg(not(unix))]
fn main() -> std::process::ExitCode {
    eprintln!("iiswsgi-bench drives the gateway over Unix sockets: run it on Linux");
    std::process::ExitCode::FAILURE
}
