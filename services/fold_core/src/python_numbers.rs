//! Python's arithmetic where it differs from the obvious Rust: the fold must give the floats the Python
//! model gives, bit for bit (the differential test compares them exactly).

use serde_json::Value;

/// `x // y` for floats, as CPython's `float_divmod` computes it (not `(x / y).floor()`, which can round
/// the quotient up to the next integer).
pub fn floordiv(x: f64, y: f64) -> f64 {
    let mut rem = x % y;
    let mut div = (x - rem) / y;
    if rem != 0.0 && ((y < 0.0) != (rem < 0.0)) {
        rem += y;
        div -= 1.0;
    }
    let _ = rem;
    if div != 0.0 {
        let mut floored = div.floor();
        if div - floored > 0.5 {
            floored += 1.0;
        }
        floored
    } else {
        0.0f64.copysign(x / y)
    }
}

/// `int(x // y)`.
pub fn floordiv_int(x: f64, y: f64) -> i64 {
    floordiv(x, y) as i64
}

/// `round(x, 2)`: the decimal nearest the float's exact value, halves to even, read back (CPython rounds
/// through its correctly rounded dtoa; Rust's formatting with a precision is exact the same way).
pub fn round2(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.2}").parse().unwrap_or(x)
}

/// `f"{x:g}"`: six significant digits, trailing zeros dropped, scientific below 1e-4 and from 1e6.
pub fn format_g(x: f64) -> String {
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    if !x.is_finite() {
        return if x.is_nan() {
            "nan".into()
        } else if x > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let scientific = format!("{x:.5e}"); // d.ddddde<exp>, rounded as Python rounds to 6 digits
    let (mantissa, exp) = scientific.split_once('e').expect("an exponent");
    let exp: i32 = exp.parse().expect("a number");
    let trim = |s: &str| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if (-4..6).contains(&exp) {
        trim(&format!("{x:.*}", (5 - exp) as usize))
    } else {
        format!(
            "{}e{}{:02}",
            trim(mantissa),
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        )
    }
}

/// Python's `str.rstrip()`: its whitespace includes the four separators \x1c–\x1f that Rust's does not.
pub fn py_rstrip(text: &str) -> &str {
    text.trim_end_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
}

/// Python's `bool()` of a JSON value.
pub fn py_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Python's `str()` of a JSON value as `orjson.loads` gives it, for what an f-string shows: text as it is,
/// None/True/False, integers, floats as `repr` (for the magnitudes events carry); containers as JSON (not
/// Python's repr: a known difference, and not a shape the schema lets through for these attributes).
pub fn py_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) if n.is_f64() => format!("{:?}", n.as_f64().unwrap_or(f64::NAN)),
        other => other.to_string(),
    }
}

/// Python's `==` between JSON values as `json.loads`/orjson gives them: `True == 1 == 1.0`, strings only
/// equal strings, containers compared element by element.
pub fn py_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
        }
        _ => match (numeric(a), numeric(b)) {
            (Some(Num::Int(x)), Some(Num::Int(y))) => x == y,
            (Some(x), Some(y)) => x.as_f64() == y.as_f64(),
            _ => false,
        },
    }
}

#[derive(Clone, Copy)]
enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

fn numeric(v: &Value) -> Option<Num> {
    match v {
        Value::Bool(b) => Some(Num::Int(i128::from(*b))),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(Num::Int(i128::from(i)))
            } else if let Some(u) = n.as_u64() {
                Some(Num::Int(i128::from(u)))
            } else {
                n.as_f64().map(Num::Float)
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floordiv_is_pythons() {
        assert_eq!(floordiv(7.0, 2.0), 3.0);
        assert_eq!(floordiv(-7.0, 2.0), -4.0);
        assert_eq!(floordiv(1.0, 0.1), 9.0); // (1.0 / 0.1).floor() would be 10
    }

    #[test]
    fn format_g_is_pythons() {
        for (x, g) in [
            (30.0, "30"),
            (0.5, "0.5"),
            (100.0, "100"),
            (1e-5, "1e-05"),
            (123456789.0, "1.23457e+08"),
            (0.0001, "0.0001"),
            (999999.5, "1e+06"),
            (12.3456789, "12.3457"),
        ] {
            assert_eq!(format_g(x), g, "{x}");
        }
    }

    #[test]
    fn round2_halves_to_even_on_the_exact_value() {
        assert_eq!(round2(0.125), 0.12);
        assert_eq!(round2(0.375), 0.38);
        assert_eq!(round2(2.675), 2.67); // 2.67499999… exactly
        assert_eq!(round2(1.005), 1.0);
    }
}
