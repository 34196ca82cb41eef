//! `dsmpc plan`: which field a task would compute in, and the bound that decided it.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use dsmpc_core::encoding::{Encoding, FieldPolicy, InputRange, Plan, format_fixed, parse_fixed};

/// Arguments of `dsmpc plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Smallest allowed input value (decimal, at most --scale decimal places).
    #[arg(long, allow_hyphen_values = true)]
    min: String,
    /// Largest allowed input value.
    #[arg(long, allow_hyphen_values = true)]
    max: String,
    /// Decimal places of inputs.
    #[arg(long, default_value_t = 0)]
    scale: u32,
    /// Number of data providers, each with weight 1 (ignored when --weights is given).
    #[arg(long, default_value_t = 20)]
    dps: usize,
    /// Comma-separated weights, one per data provider (decimals allowed, see --weight-scale).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    weights: Vec<String>,
    /// Decimal places of weights.
    #[arg(long, default_value_t = 0)]
    weight_scale: u32,
    /// Protocol mode: verifiable always computes in ristretto255.
    #[arg(long, value_enum, default_value_t = Mode::Verifiable)]
    mode: Mode,
}

/// The protocol mode, as far as it decides the field.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    /// Pedersen-committed shares over the ristretto255 scalar field.
    Verifiable,
    /// Uncommitted, seed-compressed shares over the smallest field that fits.
    Fast,
}

/// Prints the plan for `args`.
pub fn run(args: &PlanArgs) -> Result<()> {
    let min = parse_fixed(&args.min, args.scale).context("--min")?;
    let max = parse_fixed(&args.max, args.scale).context("--max")?;
    let weights = if args.weights.is_empty() {
        vec![1; args.dps]
    } else {
        args.weights
            .iter()
            .map(|w| parse_fixed(w, args.weight_scale))
            .collect::<Result<Vec<_>, _>>()
            .context("--weights")?
    };
    let encoding = Encoding::Exact {
        input_scale: args.scale,
        weight_scale: args.weight_scale,
        range: InputRange::new(min, max)?,
    };
    let policy = match args.mode {
        Mode::Verifiable => FieldPolicy::Verifiable,
        Mode::Fast => FieldPolicy::Smallest,
    };
    let plan = Plan::new(encoding, &weights, policy)?;
    let bound = plan.bound.expect("exact plans have a bound");
    let scale = plan.result_scale();
    println!("data providers: {}", weights.len());
    println!("result bound:   ±{}", format_fixed(bound as i128, scale));
    println!("field:          {}", plan.field);
    println!(
        "field holds:    ±{}",
        format_fixed(plan.field.capacity() as i128, scale)
    );
    Ok(())
}
