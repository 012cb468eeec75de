fn main() -> std::process::ExitCode {
    k8scop::cli::main()
}
