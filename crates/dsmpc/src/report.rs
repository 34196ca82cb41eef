//! `dsmpc report`: one self-contained HTML page of who sent what to whom, and where time went,
//! drawn from a flow log (`--flow-log` of the role servers and clients).
//!
//! The page shows totals per message kind, party and task; a heat map of bytes between parties;
//! and a timeline of phases per role and of messages per kind. The log is read strictly (see
//! [`flow`]): a line that is not one of the two flow-log shapes stops the report with its number.

mod flow;
mod heatmap;
mod html;
mod summary;
mod svg;
mod text;
mod timeline;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use flow::FlowLog;

/// Arguments of `dsmpc report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The flow log: JSON lines as written by `--flow-log`.
    flow: PathBuf,
    /// Where to write the HTML page (replaced if it exists).
    #[arg(long)]
    out: PathBuf,
    /// Title of the page.
    #[arg(long, default_value = "dsmpc flow report")]
    title: String,
    /// Keep only this task's lines; control traffic (lines without a task) is then left out.
    #[arg(long)]
    task: Option<String>,
}

/// Reads the flow log, writes the page and says where it went.
pub fn run(args: &ReportArgs) -> Result<()> {
    let file = args.flow.display().to_string();
    let text = std::fs::read(&args.flow).with_context(|| format!("reading {file}"))?;
    let mut log = FlowLog::parse(&text, &file)?;
    if let Some(task) = &args.task {
        log = only_task(log, task, &file)?;
    }
    let page = html::page(&html::PageInput {
        title: &args.title,
        file: &file,
        task: args.task.as_deref(),
        log: &log,
    });
    write_page(&args.out, &page)?;
    println!(
        "wrote {} ({} messages, {} phases)",
        args.out.display(),
        log.messages.len(),
        log.phases.len()
    );
    Ok(())
}

/// `log` cut to `task`, or an error naming the tasks it does have.
fn only_task(log: FlowLog, task: &str, file: &str) -> Result<FlowLog> {
    if task.is_empty() {
        bail!("--task needs a task id; without --task the report covers every line");
    }
    let tasks: Vec<String> = log.tasks().into_iter().map(str::to_string).collect();
    let log = log.for_task(task);
    if log.is_empty() {
        let known = match tasks.len() {
            0 => "it has only control traffic".to_string(),
            n if n <= 5 => format!("its tasks are {}", tasks.join(", ")),
            n => format!("it has {n} tasks, among them {}", tasks[..5].join(", ")),
        };
        bail!("{file} has no lines of task {task}: {known}");
    }
    Ok(log)
}

fn write_page(out: &Path, page: &str) -> Result<()> {
    std::fs::write(out, page).with_context(|| format!("writing the report to {}", out.display()))
}
