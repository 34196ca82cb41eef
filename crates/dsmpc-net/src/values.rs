//! A data provider's input vector: decimals given on the command line, or a file of values read as
//! a stream and turned into fixed-point mantissas at the task's input scale.
//!
//! A file is either text — values separated by commas, spaces, tabs or newlines, so both one value
//! a line and `1.5,-2,3` work — or a NumPy `.npy` array (recognised by its magic bytes, whatever the
//! file is called) of integers or floats. Both are read in bounded chunks: a vector of 10^7 values
//! never exists as text in memory, only as the mantissas the DP shares.
//!
//! Conversion follows [`parse_fixed`]: a value with more decimal places than the scale is refused,
//! never rounded. A float is converted through its shortest round-trip decimal text, so `0.1` reads
//! as `1` at scale 1 while `1.234` is refused at scale 2.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

use dsmpc_core::encoding::{MAX_SCALE, parse_fixed};

/// The NumPy `.npy` magic string.
const NPY_MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Bytes of `.npy` data read (and converted) at a time.
const CHUNK: usize = 64 * 1024;
/// The longest `.npy` header dsmpc reads; NumPy itself refuses headers above 10 000 bytes.
const MAX_HEADER: usize = 1 << 20;
/// The longest text token kept; a longer one is refused as a bad value.
const MAX_TOKEN: usize = 128;
/// Elements reserved up front from an `.npy` shape, so a forged header cannot exhaust memory.
const MAX_RESERVE: u64 = 1 << 20;

/// A data provider's input vector, one value per dimension.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Decimal text such as `-12.5`, one per dimension (`--value` or `--values`).
    Decimals(Vec<String>),
    /// A file of values (`--values-file`): a `.npy` array of integers or floats, or text with
    /// values separated by commas, spaces, tabs or newlines.
    File(PathBuf),
    /// Floats held in memory (a NumPy array handed to the Python package): each is read through
    /// its shortest round-trip decimal text, like a float of a `.npy` file; NaN and ±inf are
    /// refused.
    Floats(Vec<f64>),
    /// Integers held in memory (a NumPy integer array handed to the Python package).
    Integers(Vec<i64>),
}

/// Why an input vector could not be read or converted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValuesError {
    /// The file could not be opened or read.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// The `.npy` header is malformed, of an unknown version, or describes a layout dsmpc refuses.
    #[error("{}: bad .npy header: {reason}", path.display())]
    Header {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The `.npy` element type is not one dsmpc reads.
    #[error(
        "{}: unsupported .npy dtype {dtype} (dsmpc reads integers i1, i2, i4, i8, u1, u2, u4, u8 \
         and floats f4, f8)",
        path.display()
    )]
    Dtype {
        /// The file.
        path: PathBuf,
        /// The dtype as the header spells it.
        dtype: String,
    },
    /// A token of a text file is not a decimal number at the scale.
    #[error("{}, line {line}: bad value {token:?}: {reason}", path.display())]
    Token {
        /// The file.
        path: PathBuf,
        /// The line it is on, counting from 1.
        line: u64,
        /// The token (cut short if very long).
        token: String,
        /// Why it was refused.
        reason: String,
    },
    /// A decimal given directly is not a decimal number at the scale.
    #[error("input value {position} ({token:?}): {reason}")]
    Decimal {
        /// Its position, counting from 1.
        position: usize,
        /// The text given.
        token: String,
        /// Why it was refused.
        reason: String,
    },
    /// A float element of a `.npy` file is NaN or infinite.
    #[error("{}: element {index} is {what}; only finite values can be summed", path.display())]
    NotFinite {
        /// The file.
        path: PathBuf,
        /// The element's flat index, counting from 0.
        index: u64,
        /// `NaN`, `inf` or `-inf`.
        what: &'static str,
    },
    /// A `.npy` element has no mantissa at the scale: too many decimal places, or too large.
    #[error("{}: element {index} ({value}) cannot be represented at scale {scale}: {reason}", path.display())]
    Element {
        /// The file.
        path: PathBuf,
        /// The element's flat index, counting from 0.
        index: u64,
        /// The element as decimal text.
        value: String,
        /// The scale.
        scale: u32,
        /// Why it was refused.
        reason: String,
    },
    /// The `.npy` data ends before the shape's last element.
    #[error(
        "{}: truncated .npy data: the shape has {expected} elements but the file holds {found}",
        path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Elements the shape promises.
        expected: u64,
        /// Complete elements present.
        found: u64,
    },
    /// Bytes follow the `.npy` data's last element.
    #[error("{}: {extra} unexpected bytes after the {expected} elements of the .npy data", path.display())]
    Trailing {
        /// The file.
        path: PathBuf,
        /// Elements the shape promises.
        expected: u64,
        /// Bytes beyond them.
        extra: u64,
    },
    /// The input holds no values.
    #[error("{what} holds no values")]
    Empty {
        /// The input: a file name, or the list given.
        what: String,
    },
    /// The scale exceeds [`MAX_SCALE`].
    #[error("input scale {scale} exceeds the maximum of {MAX_SCALE}")]
    Scale {
        /// The scale asked for.
        scale: u32,
    },
}

impl Values {
    /// The values as fixed-point mantissas at `scale` decimal places (`value·10^scale`), with the
    /// semantics of [`parse_fixed`]: a value with more decimal places than `scale` is refused.
    pub fn mantissas(&self, scale: u32) -> Result<Vec<i128>, ValuesError> {
        if scale > MAX_SCALE {
            return Err(ValuesError::Scale { scale });
        }
        let mantissas = match self {
            Values::Decimals(texts) => decimals(texts, scale)?,
            Values::File(path) => read_file(path, scale)?,
            Values::Floats(xs) => floats(xs, scale)?,
            Values::Integers(xs) => {
                let texts: Vec<String> = xs.iter().map(i64::to_string).collect();
                decimals(&texts, scale)?
            }
        };
        if mantissas.is_empty() {
            return Err(ValuesError::Empty {
                what: match self {
                    Values::Decimals(_) | Values::Floats(_) | Values::Integers(_) => {
                        "the list of values given".to_owned()
                    }
                    Values::File(path) => path.display().to_string(),
                },
            });
        }
        Ok(mantissas)
    }
}

fn decimals(texts: &[String], scale: u32) -> Result<Vec<i128>, ValuesError> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            parse_fixed(text, scale).map_err(|e| ValuesError::Decimal {
                position: i + 1,
                token: text.clone(),
                reason: reason(e),
            })
        })
        .collect()
}

/// Floats at `scale`: NaN and ±inf are refused by position, every other value is read through
/// its shortest round-trip decimal text (so `0.1` is `1` at scale 1, and `1.234` is refused at
/// scale 2: never rounded).
fn floats(xs: &[f64], scale: u32) -> Result<Vec<i128>, ValuesError> {
    xs.iter()
        .enumerate()
        .map(|(i, x)| {
            let text = x.to_string();
            if !x.is_finite() {
                return Err(ValuesError::Decimal {
                    position: i + 1,
                    token: text,
                    reason: "only finite values can be summed".to_owned(),
                });
            }
            parse_fixed(&text, scale).map_err(|e| ValuesError::Decimal {
                position: i + 1,
                token: text,
                reason: reason(e),
            })
        })
        .collect()
}

/// The reason part of a `parse_fixed` error (its input is reported separately).
fn reason(error: dsmpc_core::Error) -> String {
    match error {
        dsmpc_core::Error::InvalidNumber { reason, .. } => reason,
        other => other.to_string(),
    }
}

/// Reads a file of either format, chosen by whether it starts with the `.npy` magic.
fn read_file(path: &Path, scale: u32) -> Result<Vec<i128>, ValuesError> {
    let file = File::open(path).map_err(|source| ValuesError::Io {
        path: path.to_owned(),
        source,
    })?;
    read_values(path, file, scale)
}

/// Reads values in either file format (a `.npy` array, or text) from `input` as fixed-point
/// mantissas at `scale`, naming `path` in errors. The format is chosen by whether the input
/// starts with the `.npy` magic. (This is what `--values-file` reads; the fuzz target `values`
/// feeds it arbitrary bytes.)
pub fn read_values(
    path: &Path,
    mut input: impl Read,
    scale: u32,
) -> Result<Vec<i128>, ValuesError> {
    let io_error = |source| ValuesError::Io {
        path: path.to_owned(),
        source,
    };
    let mut prefix = [0u8; NPY_MAGIC.len()];
    let got = fill(&mut input, &mut prefix).map_err(io_error)?;
    let head = prefix.get(..got).unwrap_or_default();
    let reader = BufReader::with_capacity(CHUNK, Cursor::new(head.to_vec()).chain(input));
    if head == NPY_MAGIC {
        read_npy(path, reader, scale)
    } else {
        read_text(path, reader, scale)
    }
}

/// Reads into `buf` until it is full or the input ends; returns the bytes read.
fn fill(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let Some(rest) = buf.get_mut(filled..) else {
            break;
        };
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

// ---------------------------------------------------------------------------------------------
// Text

/// Reads whitespace- or comma-separated decimals, one token at a time.
fn read_text(path: &Path, reader: impl BufRead, scale: u32) -> Result<Vec<i128>, ValuesError> {
    let mut tokens = Tokens::new(reader);
    let mut out = Vec::new();
    while let Some(line) = tokens.next_token().map_err(|source| ValuesError::Io {
        path: path.to_owned(),
        source,
    })? {
        out.push(text_token(path, line, tokens.token(), scale)?);
    }
    Ok(out)
}

/// Converts one text token read from `line` of `path`.
fn text_token(path: &Path, line: u64, token: &[u8], scale: u32) -> Result<i128, ValuesError> {
    let bad = |token: String, reason: String| ValuesError::Token {
        path: path.to_owned(),
        line,
        token,
        reason,
    };
    if token.len() > MAX_TOKEN {
        let start = String::from_utf8_lossy(token.get(..32).unwrap_or(token));
        return Err(bad(
            format!("{start}…"),
            format!("longer than {MAX_TOKEN} characters"),
        ));
    }
    let text = std::str::from_utf8(token).map_err(|_| {
        bad(
            String::from_utf8_lossy(token).into_owned(),
            "not UTF-8 text".into(),
        )
    })?;
    parse_fixed(text, scale).map_err(|e| bad(text.to_owned(), reason(e)))
}

/// Splits a byte stream into tokens at commas and ASCII whitespace, counting lines, without ever
/// holding more than one (bounded) token.
struct Tokens<R> {
    reader: R,
    /// The line being read, counting from 1.
    line: u64,
    /// The current token, at most `MAX_TOKEN + 1` bytes.
    token: Vec<u8>,
    /// The line the current token is on.
    token_line: u64,
}

impl<R: BufRead> Tokens<R> {
    fn new(reader: R) -> Self {
        Tokens {
            reader,
            line: 1,
            token: Vec::new(),
            token_line: 1,
        }
    }

    fn token(&self) -> &[u8] {
        &self.token
    }

    /// Advances to the next token; returns its line, or `None` at the end of the input.
    fn next_token(&mut self) -> io::Result<Option<u64>> {
        self.token.clear();
        loop {
            let buf = match self.reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Ok((!self.token.is_empty()).then_some(self.token_line));
            }
            let (used, done) = scan(buf, &mut self.token, &mut self.line, &mut self.token_line);
            self.reader.consume(used);
            if done {
                return Ok(Some(self.token_line));
            }
        }
    }
}

/// Scans `buf` into `token` up to the separator that ends it; returns the bytes consumed and
/// whether a token was completed.
fn scan(buf: &[u8], token: &mut Vec<u8>, line: &mut u64, token_line: &mut u64) -> (usize, bool) {
    for (i, &b) in buf.iter().enumerate() {
        if b == b',' || b.is_ascii_whitespace() {
            if b == b'\n' {
                *line += 1;
            }
            if !token.is_empty() {
                return (i + 1, true);
            }
        } else {
            if token.is_empty() {
                *token_line = *line;
            }
            if token.len() <= MAX_TOKEN {
                token.push(b);
            }
        }
    }
    (buf.len(), false)
}

// ---------------------------------------------------------------------------------------------
// .npy

/// How an element is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Signed,
    Unsigned,
    Float,
}

/// A supported `.npy` element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dtype {
    kind: Kind,
    /// Bytes per element: 1, 2, 4 or 8.
    size: usize,
    big_endian: bool,
}

impl Dtype {
    /// Parses a simple descr such as `<f8`, `>i4` or `|u1`; `None` for anything else.
    fn parse(descr: &str) -> Option<Dtype> {
        let mut chars = descr.chars();
        let order = chars.next()?;
        let kind = match chars.next()? {
            'i' => Kind::Signed,
            'u' => Kind::Unsigned,
            'f' => Kind::Float,
            _ => return None,
        };
        let size: usize = chars.as_str().parse().ok()?;
        let valid_size = match kind {
            Kind::Float => matches!(size, 4 | 8),
            Kind::Signed | Kind::Unsigned => matches!(size, 1 | 2 | 4 | 8),
        };
        let big_endian = match order {
            '<' => false,
            '>' => true,
            '|' if size == 1 => false,
            _ => return None,
        };
        valid_size.then_some(Dtype {
            kind,
            size,
            big_endian,
        })
    }
}

/// What a `.npy` header says about the data that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    dtype: Dtype,
    /// Elements in the array (the product of its shape).
    count: u64,
}

/// Reads a `.npy` file (already known to start with the magic), converting in chunks.
fn read_npy(path: &Path, mut reader: impl Read, scale: u32) -> Result<Vec<i128>, ValuesError> {
    let layout = read_header(path, &mut reader)?;
    let reserve = usize::try_from(layout.count.min(MAX_RESERVE)).unwrap_or(0);
    let mut out = Vec::with_capacity(reserve);
    let converter = Converter {
        path,
        dtype: layout.dtype,
        scale,
        factor: 10i128
            .checked_pow(scale)
            .ok_or(ValuesError::Scale { scale })?,
    };
    let size = layout.dtype.size;
    let mut buf = vec![0u8; CHUNK];
    let io_error = |source| ValuesError::Io {
        path: path.to_owned(),
        source,
    };
    let mut index: u64 = 0;
    while index < layout.count {
        let want = usize::try_from(layout.count - index)
            .unwrap_or(usize::MAX)
            .min(CHUNK / size);
        let chunk = buf.get_mut(..want * size).unwrap_or_default();
        let got = fill(&mut reader, chunk).map_err(io_error)?;
        for element in chunk.get(..got).unwrap_or_default().chunks_exact(size) {
            out.push(converter.convert(element, index)?);
            index += 1;
        }
        if got < chunk.len() {
            return Err(ValuesError::Truncated {
                path: path.to_owned(),
                expected: layout.count,
                found: index,
            });
        }
    }
    let extra = io::copy(&mut reader, &mut io::sink()).map_err(io_error)?;
    if extra > 0 {
        return Err(ValuesError::Trailing {
            path: path.to_owned(),
            expected: layout.count,
            extra,
        });
    }
    Ok(out)
}

/// Reads the magic, version, header length and header dictionary.
fn read_header(path: &Path, reader: &mut impl Read) -> Result<Layout, ValuesError> {
    let bad = |reason: String| ValuesError::Header {
        path: path.to_owned(),
        reason,
    };
    let mut exact = |buf: &mut [u8], what: &str| match fill(reader, buf) {
        Ok(n) if n == buf.len() => Ok(()),
        Ok(_) => Err(bad(format!("the file ends inside the {what}"))),
        Err(source) => Err(ValuesError::Io {
            path: path.to_owned(),
            source,
        }),
    };
    let mut start = [0u8; 8];
    exact(&mut start, "magic and version")?;
    let header_len = match (start[6], start[7]) {
        (1, 0) => {
            let mut len = [0u8; 2];
            exact(&mut len, "header length")?;
            usize::from(u16::from_le_bytes(len))
        }
        (2 | 3, 0) => {
            let mut len = [0u8; 4];
            exact(&mut len, "header length")?;
            usize::try_from(u32::from_le_bytes(len)).unwrap_or(usize::MAX)
        }
        (major, minor) => return Err(bad(format!("unsupported format version {major}.{minor}"))),
    };
    if header_len > MAX_HEADER {
        return Err(bad(format!(
            "header of {header_len} bytes exceeds {MAX_HEADER}"
        )));
    }
    let mut header = vec![0u8; header_len];
    exact(&mut header, "header")?;
    let text = std::str::from_utf8(&header).map_err(|_| bad("the header is not text".into()))?;
    layout(path, text)
}

/// Interprets the header dictionary.
fn layout(path: &Path, text: &str) -> Result<Layout, ValuesError> {
    let bad = |reason: String| ValuesError::Header {
        path: path.to_owned(),
        reason,
    };
    let dict = parse_dict(text).map_err(&bad)?;
    let dtype = match &dict.descr {
        PyValue::Str(descr) => Dtype::parse(descr).ok_or_else(|| format!("'{descr}'")),
        other => Err(other.to_string()),
    }
    .map_err(|dtype| ValuesError::Dtype {
        path: path.to_owned(),
        dtype,
    })?;
    let PyValue::Bool(fortran) = dict.fortran_order else {
        return Err(bad("'fortran_order' is not True or False".into()));
    };
    let PyValue::Tuple(shape) = &dict.shape else {
        return Err(bad("'shape' is not a tuple of integers".into()));
    };
    if fortran && shape.len() > 1 {
        return Err(bad(format!(
            "Fortran-order (column-major) arrays of {} dimensions are not supported; save the \
             array in C order (numpy.ascontiguousarray) or flatten it",
            shape.len()
        )));
    }
    let count = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad("the shape's element count overflows".into()))?;
    Ok(Layout { dtype, count })
}

/// Converts elements of one dtype into mantissas.
struct Converter<'a> {
    path: &'a Path,
    dtype: Dtype,
    scale: u32,
    /// `10^scale`.
    factor: i128,
}

impl Converter<'_> {
    /// Converts the element at flat `index`, stored in `bytes`.
    fn convert(&self, bytes: &[u8], index: u64) -> Result<i128, ValuesError> {
        let bits = self.bits(bytes);
        match self.dtype.kind {
            Kind::Signed => {
                let shift = 64 - 8 * bytes.len() as u32;
                self.integer(i128::from(((bits << shift) as i64) >> shift), index)
            }
            Kind::Unsigned => self.integer(i128::from(bits), index),
            Kind::Float if self.dtype.size == 4 => {
                let x = f32::from_bits(bits as u32);
                self.float(
                    x.is_nan(),
                    x.is_infinite(),
                    x < 0.0,
                    || x.to_string(),
                    index,
                )
            }
            Kind::Float => {
                let x = f64::from_bits(bits);
                self.float(
                    x.is_nan(),
                    x.is_infinite(),
                    x < 0.0,
                    || x.to_string(),
                    index,
                )
            }
        }
    }

    /// The element's bytes as an unsigned integer, in the file's byte order.
    fn bits(&self, bytes: &[u8]) -> u64 {
        let fold = |acc: u64, &b: &u8| (acc << 8) | u64::from(b);
        if self.dtype.big_endian {
            bytes.iter().fold(0, fold)
        } else {
            bytes.iter().rev().fold(0, fold)
        }
    }

    fn integer(&self, value: i128, index: u64) -> Result<i128, ValuesError> {
        value
            .checked_mul(self.factor)
            .ok_or_else(|| self.out_of_range(value.to_string(), "too large".into(), index))
    }

    fn float(
        &self,
        nan: bool,
        infinite: bool,
        negative: bool,
        text: impl FnOnce() -> String,
        index: u64,
    ) -> Result<i128, ValuesError> {
        let what = match (nan, infinite, negative) {
            (true, _, _) => Some("NaN"),
            (false, true, false) => Some("inf"),
            (false, true, true) => Some("-inf"),
            _ => None,
        };
        if let Some(what) = what {
            return Err(ValuesError::NotFinite {
                path: self.path.to_owned(),
                index,
                what,
            });
        }
        let text = text();
        parse_fixed(&text, self.scale).map_err(|e| self.out_of_range(text, reason(e), index))
    }

    fn out_of_range(&self, value: String, reason: String, index: u64) -> ValuesError {
        ValuesError::Element {
            path: self.path.to_owned(),
            index,
            value,
            scale: self.scale,
            reason,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The header dictionary: a Python literal such as
// `{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }`.

/// A value of the header dictionary.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PyValue {
    Str(String),
    Bool(bool),
    Tuple(Vec<u64>),
    /// Anything else (a structured dtype's list, say), kept as its text for error messages.
    Other(String),
}

impl std::fmt::Display for PyValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PyValue::Str(s) => write!(f, "'{s}'"),
            PyValue::Bool(true) => f.write_str("True"),
            PyValue::Bool(false) => f.write_str("False"),
            PyValue::Tuple(items) => write!(f, "{items:?}"),
            PyValue::Other(text) => f.write_str(text),
        }
    }
}

/// The three keys a `.npy` header holds.
struct Dict {
    descr: PyValue,
    fortran_order: PyValue,
    shape: PyValue,
}

/// Parses the header dictionary; refuses unknown, repeated or missing keys, as NumPy does.
fn parse_dict(text: &str) -> Result<Dict, String> {
    let mut p = Parser {
        bytes: text.trim_end().as_bytes(),
        pos: 0,
    };
    let (mut descr, mut fortran_order, mut shape) = (None, None, None);
    p.expect(b'{')?;
    while !p.eat(b'}') {
        let PyValue::Str(key) = p.value()? else {
            return Err("a key is not a string".into());
        };
        p.expect(b':')?;
        let slot = match key.as_str() {
            "descr" => &mut descr,
            "fortran_order" => &mut fortran_order,
            "shape" => &mut shape,
            other => return Err(format!("unknown key '{other}'")),
        };
        if slot.replace(p.value()?).is_some() {
            return Err(format!("key '{key}' appears twice"));
        }
        if !p.eat(b',') {
            p.expect(b'}')?;
            break;
        }
    }
    p.skip_space();
    if p.pos != p.bytes.len() {
        return Err("text after the dictionary".into());
    }
    let missing = |key: &str| format!("missing key '{key}'");
    Ok(Dict {
        descr: descr.ok_or_else(|| missing("descr"))?,
        fortran_order: fortran_order.ok_or_else(|| missing("fortran_order"))?,
        shape: shape.ok_or_else(|| missing("shape"))?,
    })
}

/// A cursor over the header text.
struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    /// Skips spaces, then consumes `b` if it comes next.
    fn eat(&mut self, b: u8) -> bool {
        self.skip_space();
        let found = self.peek() == Some(b);
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect(&mut self, b: u8) -> Result<(), String> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", char::from(b), self.pos))
        }
    }

    fn value(&mut self) -> Result<PyValue, String> {
        self.skip_space();
        match self.peek() {
            Some(q @ (b'\'' | b'"')) => self.string(q).map(PyValue::Str),
            Some(b'(') => self.tuple().map(PyValue::Tuple),
            Some(b'[' | b'{') => self.bracketed().map(PyValue::Other),
            _ => match self.word().as_str() {
                "True" => Ok(PyValue::Bool(true)),
                "False" => Ok(PyValue::Bool(false)),
                "" => Err(format!("expected a value at byte {}", self.pos)),
                other => Ok(PyValue::Other(other.to_owned())),
            },
        }
    }

    fn string(&mut self, quote: u8) -> Result<String, String> {
        self.pos += 1;
        let start = self.pos;
        while self.peek().is_some_and(|b| b != quote) {
            self.pos += 1;
        }
        let end = self.pos;
        if !self.eat(quote) {
            return Err("unterminated string".into());
        }
        let raw = self.bytes.get(start..end).unwrap_or_default();
        Ok(String::from_utf8_lossy(raw).into_owned())
    }

    /// A run of letters, digits and underscores.
    fn word(&mut self) -> String {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            self.pos += 1;
        }
        let raw = self.bytes.get(start..self.pos).unwrap_or_default();
        String::from_utf8_lossy(raw).into_owned()
    }

    /// A tuple of non-negative integers: `()`, `(3,)`, `(2, 3)`.
    fn tuple(&mut self) -> Result<Vec<u64>, String> {
        self.pos += 1;
        let mut items = Vec::new();
        while !self.eat(b')') {
            self.skip_space();
            let word = self.word();
            let dim = word
                .trim_end_matches('L')
                .parse()
                .map_err(|_| format!("shape dimension {word:?} is not a non-negative integer"))?;
            items.push(dim);
            if !self.eat(b',') {
                self.expect(b')')?;
                break;
            }
        }
        Ok(items)
    }

    /// A bracketed value kept as text (brackets balanced, strings not inspected).
    fn bracketed(&mut self) -> Result<String, String> {
        let start = self.pos;
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'[' | b'{' | b'(' => depth += 1,
                b']' | b'}' | b')' => depth = depth.saturating_sub(1),
                _ => {}
            }
            if depth == 0 {
                let raw = self.bytes.get(start..self.pos).unwrap_or_default();
                return Ok(String::from_utf8_lossy(raw).into_owned());
            }
        }
        Err("unbalanced brackets".into())
    }
}

#[cfg(test)]
mod tests;
