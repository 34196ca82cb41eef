use std::io::Write;

use proptest::prelude::*;
use tempfile::NamedTempFile;

use super::{Values, ValuesError};

/// A `.npy` file of format version 1.0: magic, version, header length (u16 LE) and the header
/// dictionary padded with spaces and a newline to a multiple of 64 bytes, then `data`.
fn npy(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    npy_version(1, descr, fortran, shape, data)
}

/// [`npy`] with format version `major`.0 (2 and 3 have a u32 header length).
fn npy_version(major: u8, descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let order = if fortran { "True" } else { "False" };
    let dict = format!("{{'descr': {descr}, 'fortran_order': {order}, 'shape': {shape}, }}");
    npy_raw(major, &dict, data)
}

/// A `.npy` file with the header dictionary `dict` given verbatim.
fn npy_raw(major: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let prefix = if major == 1 { 10 } else { 12 };
    let pad = (64 - (prefix + dict.len() + 1) % 64) % 64;
    let header = format!("{dict}{}\n", " ".repeat(pad));
    assert_eq!((prefix + header.len()) % 64, 0);
    let mut bytes = b"\x93NUMPY".to_vec();
    bytes.extend([major, 0]);
    if major == 1 {
        bytes.extend(u16::try_from(header.len()).unwrap().to_le_bytes());
    } else {
        bytes.extend(u32::try_from(header.len()).unwrap().to_le_bytes());
    }
    bytes.extend(header.as_bytes());
    bytes.extend(data);
    bytes
}

fn file(bytes: &[u8]) -> NamedTempFile {
    let mut f = NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    f.flush().unwrap();
    f
}

fn read(bytes: &[u8], scale: u32) -> Result<Vec<i128>, ValuesError> {
    let f = file(bytes);
    Values::File(f.path().to_owned()).mantissas(scale)
}

fn le<const N: usize, T: Copy>(values: &[T], bytes: fn(T) -> [u8; N]) -> Vec<u8> {
    values.iter().flat_map(|&v| bytes(v)).collect()
}

#[test]
fn text_with_commas_spaces_newlines_and_blank_lines() {
    let text = "1.5, -2\n\n3\t4,5\r\n   \n,,-0.25\n+7";
    assert_eq!(
        read(text.as_bytes(), 2).unwrap(),
        [150, -200, 300, 400, 500, -25, 700]
    );
}

#[test]
fn text_in_the_old_comma_format() {
    assert_eq!(read(b"1.5,-2,10", 1).unwrap(), [15, -20, 100]);
}

#[test]
fn bad_token_names_file_line_and_token() {
    let f = file(b"1\n2\n\n  3, abc\n4\n");
    let err = Values::File(f.path().to_owned()).mantissas(0).unwrap_err();
    match &err {
        ValuesError::Token { line, token, .. } => {
            assert_eq!(*line, 4);
            assert_eq!(token, "abc");
        }
        other => panic!("unexpected {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("line 4"), "{message}");
    assert!(message.contains("abc"), "{message}");
    assert!(
        message.contains(&f.path().display().to_string()),
        "{message}"
    );
}

#[test]
fn too_many_decimals_are_refused_not_rounded() {
    let err = read(b"1.5\n1.234\n", 2).unwrap_err();
    assert!(
        matches!(&err, ValuesError::Token { line: 2, token, .. } if token == "1.234"),
        "{err:?}"
    );
    assert!(err.to_string().contains("decimal places"), "{err}");
    let err = Values::Decimals(vec!["1.5".into(), "0.125".into()])
        .mantissas(2)
        .unwrap_err();
    assert!(
        matches!(&err, ValuesError::Decimal { position: 2, .. }),
        "{err:?}"
    );
}

#[test]
fn decimals_convert_at_the_scale() {
    let values = Values::Decimals(vec!["1.5".into(), "-2".into(), "+0.25".into()]);
    assert_eq!(values.mantissas(2).unwrap(), [150, -200, 25]);
    assert!(matches!(
        Values::Decimals(vec![]).mantissas(0),
        Err(ValuesError::Empty { .. })
    ));
}

#[test]
fn floats_and_integers_in_memory_convert_exactly_or_are_refused() {
    let floats = Values::Floats(vec![1.25, -3.5, 0.0, 0.1, 1e-6]);
    assert_eq!(
        floats.mantissas(6).unwrap(),
        [1_250_000, -3_500_000, 0, 100_000, 1]
    );
    assert_eq!(
        Values::Integers(vec![7, -9, i64::MAX])
            .mantissas(1)
            .unwrap(),
        [70, -90, i128::from(i64::MAX) * 10]
    );
    for (bad, shown) in [
        (f64::NAN, "NaN"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
    ] {
        let err = Values::Floats(vec![1.0, bad]).mantissas(2).unwrap_err();
        assert!(
            matches!(&err, ValuesError::Decimal { position: 2, token, .. } if token == shown),
            "{err:?}"
        );
        assert!(err.to_string().contains("only finite values"), "{err}");
    }
    // More places than the scale is refused, never rounded.
    let err = Values::Floats(vec![0.125]).mantissas(2).unwrap_err();
    assert!(err.to_string().contains("decimal places"), "{err}");
    assert!(matches!(
        Values::Floats(vec![]).mantissas(0),
        Err(ValuesError::Empty { .. })
    ));
}

#[test]
fn scale_above_the_maximum_is_refused() {
    assert!(matches!(
        Values::Decimals(vec!["1".into()]).mantissas(19),
        Err(ValuesError::Scale { scale: 19 })
    ));
}

#[test]
fn long_and_non_utf8_tokens_are_refused() {
    let long = "1".repeat(1000);
    let err = read(format!("5\n{long}\n").as_bytes(), 0).unwrap_err();
    assert!(matches!(err, ValuesError::Token { line: 2, .. }), "{err:?}");
    let err = read(b"1\n\xff\xfe\n", 0).unwrap_err();
    assert!(matches!(err, ValuesError::Token { line: 2, .. }), "{err:?}");
}

#[test]
fn empty_inputs_are_refused() {
    for text in [&b""[..], b"\n\n", b" , \n\t"] {
        let err = read(text, 0).unwrap_err();
        assert!(matches!(err, ValuesError::Empty { .. }), "{err:?}");
        assert!(err.to_string().contains("no values"), "{err}");
    }
    let err = read(&npy("'<i8'", false, "(0,)", &[]), 0).unwrap_err();
    assert!(matches!(err, ValuesError::Empty { .. }), "{err:?}");
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.npy");
    let err = Values::File(path.clone()).mantissas(0).unwrap_err();
    assert!(matches!(err, ValuesError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("absent.npy"), "{err}");
}

#[test]
fn every_supported_integer_dtype() {
    let (s, u) = ([-3i64, 0, 7], [0u64, 7, 200]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("'<i1'", le(&s.map(|v| v as i8), i8::to_le_bytes)),
        ("'|i1'", le(&s.map(|v| v as i8), i8::to_le_bytes)),
        ("'>i1'", le(&s.map(|v| v as i8), i8::to_be_bytes)),
        ("'<i2'", le(&s.map(|v| v as i16), i16::to_le_bytes)),
        ("'>i2'", le(&s.map(|v| v as i16), i16::to_be_bytes)),
        ("'<i4'", le(&s.map(|v| v as i32), i32::to_le_bytes)),
        ("'>i4'", le(&s.map(|v| v as i32), i32::to_be_bytes)),
        ("'<i8'", le(&s, i64::to_le_bytes)),
        ("'>i8'", le(&s, i64::to_be_bytes)),
        ("'|u1'", le(&u.map(|v| v as u8), u8::to_le_bytes)),
        ("'<u1'", le(&u.map(|v| v as u8), u8::to_le_bytes)),
        ("'<u2'", le(&u.map(|v| v as u16), u16::to_le_bytes)),
        ("'>u2'", le(&u.map(|v| v as u16), u16::to_be_bytes)),
        ("'<u4'", le(&u.map(|v| v as u32), u32::to_le_bytes)),
        ("'>u4'", le(&u.map(|v| v as u32), u32::to_be_bytes)),
        ("'<u8'", le(&u, u64::to_le_bytes)),
        ("'>u8'", le(&u, u64::to_be_bytes)),
    ];
    for (descr, data) in cases {
        let want = if descr.contains('i') {
            [-300, 0, 700]
        } else {
            [0, 700, 20000]
        };
        let got = read(&npy(descr, false, "(3,)", &data), 2).unwrap();
        assert_eq!(got, want, "{descr}");
    }
}

#[test]
fn integer_extremes() {
    let data = le(&[i64::MIN, i64::MAX], i64::to_le_bytes);
    assert_eq!(
        read(&npy("'<i8'", false, "(2,)", &data), 18).unwrap(),
        [
            i128::from(i64::MIN) * 10i128.pow(18),
            i128::from(i64::MAX) * 10i128.pow(18)
        ]
    );
    let data = le(&[u64::MAX], u64::to_be_bytes);
    assert_eq!(
        read(&npy("'>u8'", false, "(1,)", &data), 0).unwrap(),
        [i128::from(u64::MAX)]
    );
}

#[test]
fn every_supported_float_dtype() {
    let values = [1.25f64, -0.5, 3.0];
    let want = [125, -50, 300];
    let f32s = values.map(|v| v as f32);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("'<f4'", le(&f32s, f32::to_le_bytes)),
        ("'>f4'", le(&f32s, f32::to_be_bytes)),
        ("'<f8'", le(&values, f64::to_le_bytes)),
        ("'>f8'", le(&values, f64::to_be_bytes)),
    ];
    for (descr, data) in cases {
        assert_eq!(
            read(&npy(descr, false, "(3,)", &data), 2).unwrap(),
            want,
            "{descr}"
        );
    }
}

#[test]
fn floats_convert_through_their_shortest_decimal_text() {
    let f8 = |x: f64| npy("'<f8'", false, "(1,)", &x.to_le_bytes());
    let f4 = |x: f32| npy("'<f4'", false, "(1,)", &x.to_le_bytes());
    assert_eq!(read(&f8(0.1), 1).unwrap(), [1]);
    assert_eq!(read(&f4(0.1), 1).unwrap(), [1]);
    assert_eq!(read(&f8(-0.0), 0).unwrap(), [0]);
    assert_eq!(read(&f8(1e-7), 7).unwrap(), [1]);
    let err = read(&f8(1.234), 2).unwrap_err();
    assert!(
        matches!(&err, ValuesError::Element { index: 0, value, scale: 2, .. } if value == "1.234"),
        "{err:?}"
    );
    let err = read(&f8(1e300), 0).unwrap_err();
    assert!(matches!(err, ValuesError::Element { .. }), "{err:?}");
}

#[test]
fn nan_and_infinities_are_refused_naming_the_index() {
    for (x, what) in [
        (f64::NAN, "NaN"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
    ] {
        let data = le(&[1.0, 2.0, x], f64::to_le_bytes);
        let err = read(&npy("'<f8'", false, "(3,)", &data), 0).unwrap_err();
        assert!(
            matches!(&err, ValuesError::NotFinite { index: 2, what: w, .. } if *w == what),
            "{err:?}"
        );
        assert!(err.to_string().contains("element 2"), "{err}");
        let data = le(&[x as f32], f32::to_be_bytes);
        let err = read(&npy("'>f4'", false, "(1,)", &data), 0).unwrap_err();
        assert!(
            matches!(&err, ValuesError::NotFinite { index: 0, what: w, .. } if *w == what),
            "{err:?}"
        );
    }
}

#[test]
fn c_order_arrays_are_flattened() {
    let data = le(&[1i32, 2, 3, 4, 5, 6], i32::to_le_bytes);
    assert_eq!(
        read(&npy("'<i4'", false, "(2, 3)", &data), 0).unwrap(),
        [1, 2, 3, 4, 5, 6]
    );
    assert_eq!(
        read(&npy("'<i4'", false, "(1, 2, 3)", &data), 0).unwrap(),
        [1, 2, 3, 4, 5, 6]
    );
    let data = le(&[9i32], i32::to_le_bytes);
    assert_eq!(read(&npy("'<i4'", false, "()", &data), 0).unwrap(), [9]);
}

#[test]
fn fortran_order_is_refused_unless_one_dimensional() {
    let data = le(&[1i32, 2, 3, 4, 5, 6], i32::to_le_bytes);
    let err = read(&npy("'<i4'", true, "(2, 3)", &data), 0).unwrap_err();
    assert!(matches!(err, ValuesError::Header { .. }), "{err:?}");
    assert!(err.to_string().contains("Fortran"), "{err}");
    assert_eq!(
        read(&npy("'<i4'", true, "(6,)", &data), 0).unwrap(),
        [1, 2, 3, 4, 5, 6]
    );
}

#[test]
fn truncated_data_is_refused() {
    let data = le(&[1i64, 2], i64::to_le_bytes);
    let err = read(&npy("'<i8'", false, "(3,)", &data), 0).unwrap_err();
    assert!(
        matches!(
            err,
            ValuesError::Truncated {
                expected: 3,
                found: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("3 elements"), "{err}");
    // A partial last element.
    let mut data = le(&[1i64, 2], i64::to_le_bytes);
    data.extend([0, 0, 0]);
    let err = read(&npy("'<i8'", false, "(3,)", &data), 0).unwrap_err();
    assert!(
        matches!(
            err,
            ValuesError::Truncated {
                expected: 3,
                found: 2,
                ..
            }
        ),
        "{err:?}"
    );
    // A truncated header.
    let whole = npy("'<i8'", false, "(3,)", &[]);
    for cut in [6, 8, 9, 20] {
        let err = read(&whole[..cut], 0).unwrap_err();
        assert!(matches!(err, ValuesError::Header { .. }), "{cut}: {err:?}");
    }
}

#[test]
fn trailing_data_is_refused() {
    let data = le(&[1i64, 2, 3, 4], i64::to_le_bytes);
    let err = read(&npy("'<i8'", false, "(3,)", &data), 0).unwrap_err();
    assert!(
        matches!(
            err,
            ValuesError::Trailing {
                expected: 3,
                extra: 8,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn unsupported_dtypes_are_refused_naming_them() {
    for descr in [
        "'|O'", "'<c16'", "'|b1'", "'<U5'", "'|S3'", "'<f2'", "'<i16'", "'|i4'", "'=i4'",
    ] {
        let err = read(&npy(descr, false, "(1,)", &[0; 16]), 0).unwrap_err();
        assert!(matches!(err, ValuesError::Dtype { .. }), "{descr}: {err:?}");
        assert!(err.to_string().contains(descr), "{descr}: {err}");
    }
    let err = read(&npy("[('a', '<i4')]", false, "(1,)", &[0; 4]), 0).unwrap_err();
    assert!(matches!(err, ValuesError::Dtype { .. }), "{err:?}");
    assert!(err.to_string().contains("('a', '<i4')"), "{err}");
}

#[test]
fn header_versions() {
    let data = le(&[1.5f64, -2.0], f64::to_le_bytes);
    for major in [2, 3] {
        let bytes = npy_version(major, "'<f8'", false, "(2,)", &data);
        assert_eq!(read(&bytes, 1).unwrap(), [15, -20], "version {major}");
    }
    let mut bytes = npy("'<f8'", false, "(2,)", &data);
    bytes[6] = 4;
    let err = read(&bytes, 1).unwrap_err();
    assert!(matches!(err, ValuesError::Header { .. }), "{err:?}");
    assert!(err.to_string().contains("version 4.0"), "{err}");
}

#[test]
fn malformed_headers_are_refused() {
    let data = [0u8; 8];
    for dict in [
        "{'descr': '<i8', 'shape': (1,), }",
        "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), 'extra': 1}",
        "{'descr': '<i8', 'fortran_order': False, 'shape': (-1,), }",
        "{'descr': '<i8', 'fortran_order': 0, 'shape': (1,), }",
        "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), } junk",
        "{'descr': '<i8', 'descr': '<i8', 'fortran_order': False, 'shape': (1,)}",
        "{'descr': '<i8 'fortran_order': False, 'shape': (1,)}",
        "not a dict",
    ] {
        let err = read(&npy_raw(1, dict, &data), 0).unwrap_err();
        assert!(matches!(err, ValuesError::Header { .. }), "{dict}: {err:?}");
    }
    // Double quotes, no trailing comma and other key orders are fine.
    let dict = r#"{"shape": (1,), "fortran_order": False, "descr": "<i8"}"#;
    assert_eq!(read(&npy_raw(1, dict, &data), 0).unwrap(), [0]);
}

#[test]
fn large_inputs_cross_chunk_boundaries() {
    let n = 100_003i64;
    let values: Vec<i64> = (0..n).map(|i| i * 7919 - 300_000).collect();
    let want: Vec<i128> = values.iter().map(|&v| i128::from(v) * 100).collect();
    let data = le(&values, i64::to_le_bytes);
    let bytes = npy("'<i8'", false, &format!("({n},)"), &data);
    assert_eq!(read(&bytes, 2).unwrap(), want);
    let text: String = values.iter().map(|v| format!("{v}\n")).collect();
    assert_eq!(read(text.as_bytes(), 2).unwrap(), want);
    let text = values
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(read(text.as_bytes(), 2).unwrap(), want);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn npy_and_text_integers_agree(
        values in prop::collection::vec(any::<i64>(), 1..40),
        scale in 0u32..=18,
        separator in prop::sample::select(vec![",", "\n", " ", ", ", "\t", "\r\n", "\n\n"]),
    ) {
        let want: Vec<i128> = values
            .iter()
            .map(|&v| i128::from(v) * 10i128.pow(scale))
            .collect();
        let data = le(&values, i64::to_le_bytes);
        let bytes = npy("'<i8'", false, &format!("({},)", values.len()), &data);
        prop_assert_eq!(read(&bytes, scale).unwrap(), want.clone());
        let text = values.iter().map(i64::to_string).collect::<Vec<_>>().join(separator);
        prop_assert_eq!(read(text.as_bytes(), scale).unwrap(), want);
    }

    #[test]
    fn arbitrary_npy_bytes_never_panic(tail in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend(tail);
        let _ = read(&bytes, 2);
    }

    #[test]
    fn arbitrary_headers_never_panic(dict in "[{}()\\[\\]'\": ,a-z<>|0-9TrueFals_]{0,80}") {
        let _ = read(&npy_raw(1, &dict, &[0; 16]), 2);
    }

    #[test]
    fn arbitrary_text_never_panics(text in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = read(&text, 3);
    }
}
