//! `agentry config print [--hub|--node]`.

use std::path::PathBuf;

use clap::Args;

use crate::config::{Flags, Sources, load_hub, load_node, print};

/// Options of `agentry config print`.
#[derive(Debug, Args)]
pub struct PrintArgs {
    /// Print only the `[hub]` section.
    #[arg(long, conflicts_with = "node")]
    hub: bool,
    /// Print only the `[node]` section.
    #[arg(long)]
    node: bool,
}

/// Prints the merged configuration to stdout; a bad value fails naming its key and source.
pub fn run(args: PrintArgs, config_file: Option<PathBuf>) -> anyhow::Result<()> {
    let sources = Sources::of_process(config_file);
    let hub = if args.node { None } else { Some(load_hub(&sources, Flags::new())?) };
    let node = if args.hub { None } else { Some(load_node(&sources, Flags::new())?) };
    print!("{}", print(hub.as_ref(), node.as_ref())?);
    Ok(())
}
