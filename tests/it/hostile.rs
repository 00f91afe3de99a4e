//! Hostile input for the bad-input sweep: hand-written values of each class (unicode edge
//! cases, overflowing numbers, injection strings) and proptest strategies that generate more
//! of them, drawn from a fixed seed so a run is repeatable.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::Value;

/// Markup that must never come back raw on a page.
pub const MARKUP: [&str; 4] = [
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    "' onmouseover='alert(1)",
];

/// Strings of every class the sweep sends in place of text.
pub fn strings() -> Vec<String> {
    let mut strings: Vec<String> = [
        "",
        "   ",
        "a\u{0}b",
        "\u{0}",
        "\u{202E}gnp.exe",
        "\u{200F}\u{202B}rtl\u{202C}",
        "\u{FEFF}\u{200B}zero width",
        "😀🏳️‍🌈👨‍👩‍👧‍👦🫠",
        "\u{10FFFF}\u{FFFF}\u{E000}",
        "line\nbreak\ttab\r\nSet-Cookie: x=1",
        "' OR '1'='1",
        "'; DROP TABLE products; --",
        "1); SELECT pg_sleep(30); --",
        "\\'; DELETE FROM customers; --",
        "%s%n{}{{}}${jndi:ldap://x}",
        "../../etc/passwd",
        "null",
        "-1",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    strings.extend(MARKUP.iter().map(|m| (*m).to_owned()));
    strings.push(format!("e{}", "\u{301}".repeat(500)));
    strings.push("a".repeat(100_000));
    strings.push("é".repeat(20_000));
    strings.push("😀".repeat(10_000));
    strings
}

/// Raw JSON tokens that no field of ours accepts as they are, or only barely: numbers at and
/// past the edges of i32 and i64, floats where whole numbers go, out-of-range exponents,
/// escaped lone surrogates, and every other JSON type.
pub const RAW_TOKENS: [&str; 26] = [
    "null",
    "true",
    "[]",
    "{}",
    "[1,2]",
    "{\"a\":{\"b\":[]}}",
    "0",
    "-1",
    "-0",
    "1.5",
    "1e2",
    "2147483648",
    "-2147483649",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "99999999999999999999999999999999999999",
    "1e309",
    "-1e309",
    "4.9e-324",
    "\"\\ud800\"",
    "\"x\\udc00y\"",
    "\"\\u0000\"",
    "\"12\"",
];

/// Bodies that are not JSON, or not JSON we can read.
pub fn malformed_bodies() -> Vec<Vec<u8>> {
    let mut bodies: Vec<Vec<u8>> = [
        "",
        "{",
        "}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{'a':1}",
        "nul",
        "{\"a\":1}{\"b\":2}",
        "\u{FEFF}{}",
        "{\"a\":\"\\x41\"}",
        "{\"a\":\"unterminated}",
        "{\"a\":NaN}",
        "{\"a\":Infinity}",
        "{\"a\" 1}",
    ]
    .into_iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    bodies.push(b"{\"a\":\"raw\x00nul\"}".to_vec());
    bodies.push(format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes());
    bodies
}

/// A JSON string's text for `text`.
pub fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialise")
}

/// Text of any kind: arbitrary unicode (control characters, NUL and unassigned code points
/// included), the hand-written classes, and long runs of them.
pub fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        2 => prop::sample::select(strings()),
        1 => (prop::sample::select(strings()), 1usize..400).prop_map(|(s, n)| s.chars().take(50).collect::<String>().repeat(n)),
        1 => prop::collection::vec(prop::sample::select(vec!['\u{0}', '\u{202E}', '\u{301}', '<', '\'', '"', '\\', '%', 'é', '😀', '\u{7F}', '\u{85}']), 0..200)
            .prop_map(|chars| chars.into_iter().collect()),
    ]
}

/// Raw JSON text of any type for one field.
pub fn hostile_token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => hostile_text().prop_map(|s| quoted(&s)),
        2 => prop::sample::select(RAW_TOKENS.to_vec()).prop_map(str::to_owned),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|f| if f.is_finite() { format!("{f:e}") } else { "1e400".to_owned() }),
        1 => json_value().prop_map(|v| v.to_string()),
    ]
}

/// Any JSON value, nested a few levels.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        hostile_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// How many generated cases each endpoint gets: `PROPTEST_CASES` when set, else `default`.
pub fn case_count(default: usize) -> usize {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// Draws values from `strategy` with `runner` (seeded once per test, so runs repeat).
pub fn draw<S: Strategy>(runner: &mut TestRunner, strategy: &S, count: usize) -> Vec<S::Value> {
    (0..count)
        .map(|_| strategy.new_tree(runner).expect("a generated value").current())
        .collect()
}

/// `text` percent-encoded for a query string or a path segment.
pub fn encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
