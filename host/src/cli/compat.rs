//! K8sCop's own command line, so its users switch without relearning:
//!
//! `k8scop -E host:port -I logs -i alerts -s START -e END -D 600
//!  --analysis static|streaming -d 5`
//!
//! is rewritten to `k8scop replay ...` (static) or `k8scop run ...`
//! (streaming) before parsing.

/// The arguments in today's form, if `args` (without the program name) are
/// in K8sCop's.
pub fn translate(args: &[String]) -> Option<Vec<String>> {
    let is_legacy = args.iter().any(|a| a == "--analysis")
        || args
            .first()
            .is_some_and(|a| matches!(a.as_str(), "-E" | "-I" | "-i" | "-s" | "-e" | "-D" | "-d"));
    if !is_legacy {
        return None;
    }
    let mut streaming = false;
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_default();
        match arg.as_str() {
            "--analysis" => streaming = value() == "streaming",
            "-E" => {
                let host = value();
                let url = if host.contains("://") {
                    host
                } else {
                    format!("http://{host}")
                };
                out.extend(["--es-url".to_string(), url]);
            }
            "-I" => out.extend(["--logs-prefix".to_string(), value()]),
            "-i" => out.extend(["--alerts-prefix".to_string(), value()]),
            "-s" => out.extend(["--from".to_string(), value()]),
            "-e" => out.extend(["--to".to_string(), value()]),
            "-D" => out.extend(["--aggregate-window".to_string(), value()]),
            "-d" => out.extend(["--interval".to_string(), value()]),
            other => out.push(other.to_string()),
        }
    }
    let command = if streaming { "run" } else { "replay" };
    if streaming {
        // A streaming start is where following begins.
        for a in out.iter_mut() {
            if a == "--from" {
                *a = "--start".into();
            }
        }
        out.retain(|a| a != "--to");
    }
    Some(std::iter::once(command.to_string()).chain(out).collect())
}

#[cfg(test)]
mod tests {
    use super::translate;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn static_and_streaming() {
        assert_eq!(
            translate(&args("-E localhost:9200 -I logs -i alerts -s 2019-2-12-12-30-0 -e 2019-2-12-13-0-0 -D 600 --analysis static")).unwrap(),
            args("replay --es-url http://localhost:9200 --logs-prefix logs --alerts-prefix alerts --from 2019-2-12-12-30-0 --to 2019-2-12-13-0-0 --aggregate-window 600")
        );
        assert_eq!(
            translate(&args(
                "-E es:9200 -I logs -i alerts --analysis streaming -d 5"
            ))
            .unwrap(),
            args(
                "run --es-url http://es:9200 --logs-prefix logs --alerts-prefix alerts --interval 5"
            )
        );
        assert!(translate(&args("replay --input x")).is_none());
    }
}
