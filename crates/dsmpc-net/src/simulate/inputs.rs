//! The simulated data providers' inputs, made when each DP uploads rather than held for all of
//! them at once: random vectors derived from one seed and the DP's number, or a CSV file read a
//! second time, line by line, as the DPs upload. With the expected result accumulated as the
//! values go by, a simulation holds O(d) values plus a few per DP in flight, whatever N.

use std::fs::File;
use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dsmpc_core::encoding::parse_fixed;
use dsmpc_core::identity::PartyId;
use rand::rngs::ChaCha20Rng;
use rand::{RngExt, SeedableRng};
use sha2::{Digest, Sha256};

use super::SimError;

/// One data provider as the task lists it: its id and weight mantissa.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpEntry {
    /// Its id.
    pub id: PartyId,
    /// Its weight mantissa.
    pub weight: i128,
}

/// Where the simulated DPs' input vectors come from.
#[derive(Debug, Clone)]
pub enum Inputs {
    /// Uniform in the configured range; DP number k's vector is drawn from ChaCha20 keyed by
    /// `SHA-256(seed ‖ k)`, so it can be made again (for `--sec`) without being kept.
    Random {
        /// The seed, from the OS CSPRNG.
        seed: [u8; 32],
    },
    /// Vectors given in memory, one per DP in order (tests and small runs).
    Listed(Arc<Vec<Vec<i128>>>),
    /// A CSV file `id,weight,v1,...,vd`, values with `scale` decimal places, read again line by
    /// line as the DPs upload (its first pass, [`scan_csv`], gave the DPs and the range).
    Csv {
        /// The file.
        path: PathBuf,
        /// Decimal places of the values.
        scale: u32,
    },
}

/// What the first pass over a CSV file found: the DPs, the vector length and the smallest range
/// holding every value.
#[derive(Debug)]
pub struct CsvScan {
    /// The DPs, in file order.
    pub dps: Vec<DpEntry>,
    /// Values per line.
    pub dim: u32,
    /// The smallest and largest value (mantissas).
    pub range: (i128, i128),
}

/// Random DP entries: `dps` DPs named dp1..dpN, weights uniform in 1..=10 (× `weight_unit`) when
/// `weighted`, else 1.
pub fn random_entries(dps: usize, weighted: bool, weight_unit: i128) -> Vec<DpEntry> {
    let mut rng = dsmpc_core::rng::fast_rng();
    (1..=dps)
        .map(|k| DpEntry {
            id: PartyId::new(&format!("dp{k}")).expect("dpN is a valid id"),
            weight: if weighted {
                rng.random_range(1..=10) * weight_unit
            } else {
                1
            },
        })
        .collect()
}

/// A fresh random seed for [`Inputs::Random`].
pub fn random_seed() -> [u8; 32] {
    let mut seed = [0; 32];
    rand::Rng::fill_bytes(&mut dsmpc_core::rng::os_rng(), &mut seed);
    seed
}

/// Reads `path` once (CSV `id,weight,v1,...,vd`, values and weights with `scale` places) for its
/// DPs, vector length and range, holding one line at a time.
pub fn scan_csv(path: &Path, scale: u32) -> Result<CsvScan, SimError> {
    let mut lines = CsvLines::open(path)?;
    let mut dps: Vec<DpEntry> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut range = (i128::MAX, i128::MIN);
    while let Some(row) = lines.next_row(scale)? {
        if !seen.insert(row.id.clone()) {
            return Err(lines.error(format!("{} appears twice", row.id)));
        }
        for &v in &row.values {
            range = (range.0.min(v), range.1.max(v));
        }
        dps.push(DpEntry {
            id: row.id,
            weight: row.weight,
        });
    }
    if dps.is_empty() {
        return Err(SimError::Config(format!(
            "{} has no data providers",
            path.display()
        )));
    }
    Ok(CsvScan {
        dps,
        dim: lines.dim,
        range,
    })
}

/// Hands out each DP's vector in the order of the task's entries.
pub(crate) struct InputReader {
    source: Source,
    dim: usize,
    range: (i128, i128),
}

enum Source {
    Random([u8; 32]),
    Listed(Arc<Vec<Vec<i128>>>),
    Csv(Box<CsvLines>, u32),
}

impl InputReader {
    /// A reader of `inputs` for vectors of `dim` values in `range`.
    pub(crate) fn open(
        inputs: &Inputs,
        dim: usize,
        range: (i128, i128),
    ) -> Result<InputReader, SimError> {
        let source = match inputs {
            Inputs::Random { seed } => Source::Random(*seed),
            Inputs::Listed(values) => Source::Listed(values.clone()),
            Inputs::Csv { path, scale } => Source::Csv(Box::new(CsvLines::open(path)?), *scale),
        };
        Ok(InputReader { source, dim, range })
    }

    /// The vector of DP number `k` (from 0), which must be `entry`; call in order.
    pub(crate) fn values(&mut self, k: usize, entry: &DpEntry) -> Result<Vec<i128>, SimError> {
        let values = match &mut self.source {
            Source::Random(seed) => random_values(seed, k, self.dim, self.range),
            Source::Listed(all) => all
                .get(k)
                .cloned()
                .ok_or_else(|| SimError::Config(format!("no input listed for {}", entry.id)))?,
            Source::Csv(lines, scale) => {
                let row = lines
                    .next_row(*scale)?
                    .ok_or_else(|| lines.error(format!("ended before {}'s line", entry.id)))?;
                if row.id != entry.id {
                    return Err(lines.error(format!(
                        "holds {} where {} was read before; was the file changed?",
                        row.id, entry.id
                    )));
                }
                row.values
            }
        };
        if values.len() != self.dim {
            return Err(SimError::Config(format!(
                "{} has {} values, the task {}",
                entry.id,
                values.len(),
                self.dim
            )));
        }
        Ok(values)
    }
}

/// DP number `k`'s random vector under [`Inputs::Random`] with `seed`: `dim` values uniform in
/// `range`.
pub fn random_values(seed: &[u8; 32], k: usize, dim: usize, range: (i128, i128)) -> Vec<i128> {
    let mut h = Sha256::new();
    h.update(b"dsmpc/simulate/input");
    h.update(seed);
    h.update((k as u64).to_le_bytes());
    let mut rng = ChaCha20Rng::from_seed(h.finalize().into());
    (0..dim)
        .map(|_| rng.random_range(range.0..=range.1))
        .collect()
}

/// One parsed CSV line.
struct Row {
    id: PartyId,
    weight: i128,
    values: Vec<i128>,
}

/// A CSV file read one line at a time.
pub(crate) struct CsvLines {
    path: PathBuf,
    lines: Lines<BufReader<File>>,
    line: usize,
    dim: u32,
}

impl CsvLines {
    fn open(path: &Path) -> Result<CsvLines, SimError> {
        let file = File::open(path)
            .map_err(|e| SimError::Config(format!("reading {}: {e}", path.display())))?;
        let mut csv = CsvLines {
            path: path.to_owned(),
            lines: BufReader::new(file).lines(),
            line: 0,
            dim: 0,
        };
        let header = csv
            .next_line()?
            .ok_or_else(|| SimError::Config(format!("{} is empty", path.display())))?;
        let header: Vec<&str> = header.split(',').map(str::trim).collect();
        if header.len() < 3 || header[0] != "id" || header[1] != "weight" {
            return Err(csv.error("the header must be id,weight,v1,...,vd".into()));
        }
        csv.dim = (header.len() - 2) as u32;
        Ok(csv)
    }

    fn error(&self, what: String) -> SimError {
        SimError::Config(format!("{}:{}: {what}", self.path.display(), self.line))
    }

    /// The next line that is not blank.
    fn next_line(&mut self) -> Result<Option<String>, SimError> {
        for line in self.lines.by_ref() {
            self.line += 1;
            let line = line.map_err(|e| {
                SimError::Config(format!("{}:{}: {e}", self.path.display(), self.line))
            })?;
            if !line.trim().is_empty() {
                return Ok(Some(line));
            }
        }
        Ok(None)
    }

    fn next_row(&mut self, scale: u32) -> Result<Option<Row>, SimError> {
        let Some(line) = self.next_line()? else {
            return Ok(None);
        };
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != self.dim as usize + 2 {
            return Err(self.error(format!(
                "{} fields, the header has {}",
                fields.len(),
                self.dim + 2
            )));
        }
        let bad = |e: dsmpc_core::Error| self.error(e.to_string());
        let id = PartyId::new(fields[0]).map_err(bad)?;
        let weight = parse_fixed(fields[1], scale).map_err(bad)?;
        let values = fields[2..]
            .iter()
            .map(|v| parse_fixed(v, scale))
            .collect::<Result<_, _>>()
            .map_err(bad)?;
        Ok(Some(Row { id, weight, values }))
    }
}

/// `Σ w·x` and `Σ w` accumulated as the inputs go by. DPs that may end up excluded (those that
/// cheat or die) are kept aside, few as they are, and counted only if the result includes them.
#[derive(Debug, Default)]
pub(crate) struct ExpectedSum {
    sums: Vec<i128>,
    weight_total: i128,
    uncertain: Vec<(PartyId, i128, Vec<i128>)>,
}

impl ExpectedSum {
    /// An empty sum of vectors of `dim` values.
    pub(crate) fn new(dim: usize) -> ExpectedSum {
        ExpectedSum {
            sums: vec![0; dim],
            ..ExpectedSum::default()
        }
    }

    /// Adds a DP that will be included.
    pub(crate) fn add(&mut self, weight: i128, values: &[i128]) {
        add_into(&mut self.sums, weight, values);
        self.weight_total += weight;
    }

    /// Keeps aside a DP that may be excluded.
    pub(crate) fn add_uncertain(&mut self, entry: &DpEntry, values: Vec<i128>) {
        self.uncertain
            .push((entry.id.clone(), entry.weight, values));
    }

    /// The sums and total weight over the certain DPs and those uncertain ones `included` says
    /// are in.
    pub(crate) fn finish(mut self, included: impl Fn(&PartyId) -> bool) -> (Vec<i128>, i128) {
        for (id, weight, values) in std::mem::take(&mut self.uncertain) {
            if included(&id) {
                self.add(weight, &values);
            }
        }
        (self.sums, self.weight_total)
    }
}

fn add_into(sums: &mut [i128], weight: i128, values: &[i128]) {
    for (s, v) in sums.iter_mut().zip(values) {
        *s += weight * v;
    }
}
