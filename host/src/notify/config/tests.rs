use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "HOOK_TOKEN" => Some("t0ken-from-env".into()),
        "SLACK_URL" => Some("https://hooks.slack.com/services/T0/B0/s3cret".into()),
        "HOSTNAME" => Some("pod-7".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fn parse(text: &str) -> anyhow::Result<Vec<ChannelConfig>> {
    channels_from_toml(text, &env)
}

fn error(text: &str) -> String {
    format!("{:#}", parse(text).unwrap_err())
}

#[test]
fn all_three_types_with_defaults_and_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("hec");
    std::fs::write(&token, "hec-s3cret\n").unwrap();
    let text = format!(
        r#"
es-url = "http://es:9200"

[[notify]]
type = "webhook"
url = "https://hooks.example.com/k8scop"
headers = {{ "X-Team" = "security" }}
token_env = "HOOK_TOKEN"
min_severity = "high"
rules = ["k8scop-classic/*"]
exclude-rules = ["*/pod-read"]
queue_size = 10
max_retries = 2
timeout = 1.5

[[notify]]
type = "slack"
url_env = "SLACK_URL"

[[notify]]
type = "splunk_hec"
name = "splunk"
url = "https://splunk:8088"
token_file = "{}"
index = "k8s"
"#,
        token.display()
    );
    let c = parse(&text).unwrap();
    assert_eq!(c.len(), 3);
    let hook = &c[0];
    assert_eq!(hook.name, "webhook");
    assert_eq!(hook.headers["x-team"], "security");
    assert_eq!(hook.headers[AUTHORIZATION], "Bearer t0ken-from-env");
    assert!(hook.headers[AUTHORIZATION].is_sensitive());
    assert_eq!(hook.filter.min_severity.as_str(), "high");
    assert_eq!(hook.filter.exclude, ["*/pod-read"]);
    assert_eq!(hook.queue_size, 10);
    assert_eq!(hook.backoff.max_retries, 2);
    assert_eq!(hook.timeout, Duration::from_millis(1500));
    let slack = &c[1];
    assert_eq!(slack.queue_size, DEFAULT_QUEUE_SIZE);
    assert_eq!(slack.drain_timeout, DEFAULT_DRAIN_TIMEOUT);
    let splunk = &c[2];
    assert_eq!(
        splunk.url.as_str(),
        "https://splunk:8088/services/collector/event"
    );
    assert_eq!(splunk.headers[AUTHORIZATION], "Splunk hec-s3cret");
    let Format::SplunkHec(envelope) = &splunk.format else {
        panic!("splunk")
    };
    assert_eq!(envelope.host, "pod-7");
    assert_eq!(envelope.index.as_deref(), Some("k8s"));

    // Debug shows no secret.
    let debug = format!("{c:?}");
    for secret in ["t0ken-from-env", "s3cret", "hec-s3cret"] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    assert!(
        debug.contains("https://hooks.slack.com/<redacted>"),
        "{debug}"
    );
    assert!(debug.contains("x-team: security"), "{debug}");
}

#[test]
fn falcosidekick_names_the_pod_and_may_carry_a_token() {
    let c = parse(
        "[[notify]]\ntype = \"falcosidekick\"\nurl = \"http://falcosidekick:2801/\"\n\n[[notify]]\ntype = \"falcosidekick\"\nname = \"behind-proxy\"\nurl = \"https://sidekick.example.com/\"\nhost = \"cluster-a\"\ntoken_env = \"HOOK_TOKEN\"\n",
    )
    .unwrap();
    assert_eq!(c[0].name, "falcosidekick");
    assert_eq!(c[0].format.kind(), "falcosidekick");
    assert_eq!(c[0].url.as_str(), "http://falcosidekick:2801/");
    let Format::Falcosidekick(sidekick) = &c[0].format else {
        panic!("falcosidekick")
    };
    assert_eq!(sidekick.hostname, "pod-7", "HOSTNAME");
    assert!(!c[0].headers.contains_key(AUTHORIZATION));
    let Format::Falcosidekick(sidekick) = &c[1].format else {
        panic!("falcosidekick")
    };
    assert_eq!(sidekick.hostname, "cluster-a");
    assert_eq!(c[1].headers[AUTHORIZATION], "Bearer t0ken-from-env");
    assert!(
        error("[[notify]]\ntype = \"falcosidekick\"\nurl = \"http://x/\"\nindex = \"k8s\"")
            .contains("Splunk HEC setting")
    );
}

#[test]
fn no_channels_is_fine() {
    assert!(parse("es-url = \"http://es:9200\"").unwrap().is_empty());
}

#[test]
fn mistakes_an_operator_can_fix() {
    let cases = [
        (
            "[[notify]]\ntype = \"teams\"\nurl = \"http://x\"",
            "unknown channel type \"teams\"",
        ),
        (
            "[[notify]]\ntype = \"webhook\"\nurl = \"not a url\"",
            "bad URL \"not a url\"",
        ),
        (
            "[[notify]]\ntype = \"webhook\"\nurl = \"ftp://x/\"",
            "use http:// or https://",
        ),
        ("[[notify]]\ntype = \"webhook\"", "no URL"),
        (
            "[[notify]]\ntype = \"splunk_hec\"\nurl = \"http://s:8088\"",
            "needs its token",
        ),
        (
            "[[notify]]\ntype = \"splunk_hec\"\nurl = \"http://s:8088\"\ntoken_env = \"NOPE\"",
            "environment variable NOPE is not set",
        ),
        (
            "[[notify]]\ntype = \"splunk_hec\"\nurl = \"http://s:8088\"\ntoken_env = \"EMPTY\"",
            "the environment variable EMPTY is empty",
        ),
        (
            "[[notify]]\ntype = \"webhook\"\nurl = \"http://x\"\ntoken = \"abc\"",
            "may not be written in the config file",
        ),
        (
            "[[notify]]\ntype = \"webhook\"\nurl = \"http://x\"\nheaders = { Authorization = \"Bearer abc\" }",
            "may not carry Authorization",
        ),
        (
            "[[notify]]\ntype = \"slack\"\nurl_env = \"SLACK_URL\"\ntoken_env = \"HOOK_TOKEN\"",
            "takes no token",
        ),
        (
            "[[notify]]\ntype = \"slack\"\nurl = \"https://hooks.slack.com/services/T0/B0/x\"",
            "a Slack webhook URL is a secret",
        ),
        (
            "[[notify]]\ntype = \"webhook\"\nurl = \"http://x\"\nmin_severity = \"severe\"",
            "unknown severity \"severe\"",
        ),
        (
            "[[notify]]\ntype = \"webhook\"\nurl = \"http://x\"\nqueue_size = 0",
            "queue_size must be between",
        ),
        (
            "[[notify]]\ntype = \"webhook\"\nurl = \"http://x\"\nindex = \"k8s\"",
            "Splunk HEC setting",
        ),
        (
            "[[notify]]\ntype = \"webhook\"\nurl = \"http://x\"\nretries = 3",
            "unknown field `retries`",
        ),
        (
            "[[notify]]\ntype = \"webhook\"\nurl_file = \"/nonexistent/k8scop\"",
            "cannot read the secret file",
        ),
        (
            "[[notify]]\ntype = \"webhook\"\nurl = \"http://x\"\n[[notify]]\ntype = \"webhook\"\nurl = \"http://y\"",
            "two channels are named \"webhook\"",
        ),
        ("notify = 1", "list of tables"),
    ];
    for (text, want) in cases {
        let got = error(text);
        assert!(
            got.contains(want),
            "{text}\n  wanted {want:?}\n  got {got:?}"
        );
    }
    // Errors name the channel.
    assert!(
        error("[[notify]]\ntype = \"webhook\"\nname = \"ops\"")
            .starts_with("[[notify]] #1 (webhook \"ops\")")
    );
    // A secret URL is never echoed, even when malformed.
    let got = format!(
        "{:#}",
        channels_from_toml(
            "[[notify]]\ntype = \"slack\"\nurl_env = \"BAD\"",
            &|_| Some("hooks.slack.com/services/T0/B0/s3cret".into())
        )
        .unwrap_err()
    );
    assert!(
        got.contains("bad URL (from a secret)") && !got.contains("s3cret"),
        "{got}"
    );
}
