fn main() -> std::process::ExitCode {
    k8scop::purge_freed_memory_at_once();
    k8scop::cli::main()
}
