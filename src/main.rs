use clap::Parser;

fn main() -> std::process::ExitCode {
    dossier::cli::main(dossier::cli::Cli::parse())
}
