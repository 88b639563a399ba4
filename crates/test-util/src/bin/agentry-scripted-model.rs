//! `agentry-scripted-model`: the scripted OpenAI-compatible model
//! ([`agentry_test_util::ScriptedModel`]) as a process, for tests written in other languages
//! (the Python and TypeScript SDKs' conformance scenario, `sdk/conformance/README.md`).
//!
//! `agentry-scripted-model --scenario FILE` reads the scenario's `script` and `latency_ms`
//! ([`agentry_test_util::conformance::Scenario`]), serves `POST /v1/chat/completions` on a free
//! loopback port, prints its base URL (`http://127.0.0.1:PORT/v1`) as the first line of stdout,
//! and runs until SIGINT or SIGTERM, or, with `--until-stdin-closes`, until its stdin reaches its
//! end (so it cannot outlive a test that holds the pipe).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use tokio::io::AsyncReadExt;
use tokio::signal::unix::{SignalKind, signal};

use agentry_test_util::ScriptedModel;
use agentry_test_util::conformance::Scenario;

const USAGE: &str = "usage: agentry-scripted-model --scenario FILE [--until-stdin-closes]";

struct Args {
    scenario: PathBuf,
    until_stdin_closes: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut scenario = None;
    let mut until_stdin_closes = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--scenario" => scenario = Some(PathBuf::from(args.next().context("--scenario needs a file")?)),
            "--until-stdin-closes" => until_stdin_closes = true,
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(Args { scenario: scenario.context(USAGE)?, until_stdin_closes })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let scenario = Scenario::load(&args.scenario)?;
    let model = ScriptedModel::start(scenario.replies(), scenario.latency()).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", model.base_url())?;
    stdout.flush()?;
    drop(stdout);

    let mut terminate = signal(SignalKind::terminate())?;
    let stdin_closed = async {
        if !args.until_stdin_closes {
            return std::future::pending().await;
        }
        let mut stdin = tokio::io::stdin();
        let mut buffer = [0_u8; 256];
        while stdin.read(&mut buffer).await.is_ok_and(|read| read > 0) {}
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
        () = stdin_closed => {}
    }
    Ok(())
}
