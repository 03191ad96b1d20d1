//! The predicate bridge: Python Polars' JSON form of a predicate
//! (`Expr.meta.serialize(format="json")`) read into a Polars 0.55.2 `Expr`.
//!
//! Python Polars 1.x/2.x are built from other Rust revisions than the 0.55.2 we link, so their
//! binary expression format is never decoded here. This parser knows a small set of JSON shapes,
//! the ones the pruner uses (columns, typed literals, comparisons, `is_in`, `is_null`,
//! `is_between`, `is_nan`, `str.starts_with`, and/or/not), and reads each exactly. Any other
//! shape, including one a future Polars invents, makes its conjunct "not understood": that
//! conjunct is not pushed, and the Python side filters every batch with the whole predicate.
//! An unknown shape can therefore cost speed, never rows.
//!
//! `is_in`'s list arrives from Python already decoded (Polars writes it as Arrow IPC bytes) as
//! `{"AdaptiveValues": {"dtype": "Int64", "values": [...]}}`.

use polars::prelude::*;
use polars_plan::plans::DynLiteralValue;
use serde_json::Value;

/// What [`parse_predicate`] made of a predicate.
#[derive(Debug)]
pub struct Parsed {
    /// The and of every conjunct understood (`None` when there is none).
    pub pushed: Option<Expr>,
    /// Every conjunct was understood: `pushed` is the whole predicate.
    pub complete: bool,
}

/// Splits the predicate's top-level `and`s and reads each conjunct.
pub fn parse_predicate(json: &str) -> Parsed {
    let Ok(value) = serde_json::from_str::<Value>(json) else {
        return Parsed {
            pushed: None,
            complete: false,
        };
    };
    let mut conjuncts = Vec::new();
    split_and(&value, &mut conjuncts);
    let mut complete = true;
    let mut pushed = Vec::new();
    for conjunct in conjuncts {
        match boolean(conjunct) {
            Some(expr) => pushed.push(expr),
            None => complete = false,
        }
    }
    Parsed {
        pushed: pushed.into_iter().reduce(|a, b| a.and(b)),
        complete,
    }
}

fn split_and<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    if let Some((left, "And", right)) = binary(value) {
        split_and(left, out);
        split_and(right, out);
    } else {
        out.push(value);
    }
}

/// `{"BinaryExpr": {"left": .., "op": "..", "right": ..}}` as its parts.
fn binary(value: &Value) -> Option<(&Value, &str, &Value)> {
    let b = single(value, "BinaryExpr")?;
    Some((b.get("left")?, b.get("op")?.as_str()?, b.get("right")?))
}

/// The value of an object's one key, when the object has exactly that one key.
fn single<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    let object = value.as_object()?;
    if object.len() != 1 {
        return None;
    }
    object.get(key)
}

/// An expression whose value is a boolean mask.
fn boolean(value: &Value) -> Option<Expr> {
    if let Some((left, op, right)) = binary(value) {
        return match op {
            "And" => Some(boolean(left)?.and(boolean(right)?)),
            "Or" => Some(boolean(left)?.or(boolean(right)?)),
            _ => {
                let (l, r) = (operand(left)?, operand(right)?);
                Some(match op {
                    "Eq" => l.eq(r),
                    "NotEq" => l.neq(r),
                    "Lt" => l.lt(r),
                    "LtEq" => l.lt_eq(r),
                    "Gt" => l.gt(r),
                    "GtEq" => l.gt_eq(r),
                    _ => return None,
                })
            }
        };
    }
    let function = single(value, "Function")?.as_object()?;
    if function.len() != 2 {
        return None;
    }
    let input = function.get("input")?.as_array()?;
    let kind = function.get("function")?;
    let arity = |n: usize| (input.len() == n).then_some(());
    if let Some(name) = single(kind, "StringExpr") {
        arity(2)?;
        return match name.as_str()? {
            "StartsWith" => {
                let prefix = literal(single(&input[1], "Literal")?)?;
                let is_string = matches!(&prefix,
                    Expr::Literal(LiteralValue::Scalar(s)) if s.dtype() == &DataType::String);
                is_string.then_some(())?;
                Some(operand(&input[0])?.str().starts_with(prefix))
            }
            _ => None,
        };
    }
    let b = single(kind, "Boolean")?;
    if let Some(name) = b.as_str() {
        arity(1)?;
        return match name {
            "Not" => Some(boolean(&input[0])?.not()),
            "IsNull" => Some(operand(&input[0])?.is_null()),
            "IsNotNull" => Some(operand(&input[0])?.is_not_null()),
            "IsNan" => Some(operand(&input[0])?.is_nan()),
            "IsNotNan" => Some(operand(&input[0])?.is_not_nan()),
            _ => None,
        };
    }
    if let Some(between) = single(b, "IsBetween") {
        arity(3)?;
        let closed = match single(between, "closed")?.as_str()? {
            "Both" => ClosedInterval::Both,
            "Left" => ClosedInterval::Left,
            "Right" => ClosedInterval::Right,
            "None" => ClosedInterval::None,
            _ => return None,
        };
        let (x, lo, hi) = (
            operand(&input[0])?,
            operand(&input[1])?,
            operand(&input[2])?,
        );
        return Some(x.is_between(lo, hi, closed));
    }
    if let Some(is_in) = single(b, "IsIn") {
        arity(2)?;
        let nulls_equal = single(is_in, "nulls_equal")?.as_bool()?;
        let values = list(single(&input[1], "AdaptiveValues")?)?;
        return Some(operand(&input[0])?.is_in(lit(values).implode(false), nulls_equal));
    }
    None
}

/// A column or a literal.
fn operand(value: &Value) -> Option<Expr> {
    if let Some(name) = single(value, "Column") {
        return Some(col(name.as_str()?));
    }
    literal(single(value, "Literal")?)
}

/// `{"Dyn": ..}` or `{"Scalar": ..}`, the inside of a `{"Literal": ..}`.
fn literal(value: &Value) -> Option<Expr> {
    if let Some(dynamic) = single(value, "Dyn") {
        let v = if let Some(i) = single(dynamic, "Int") {
            // Python writes integers beyond 64 bits exactly; serde_json without
            // arbitrary precision cannot hold them, so they stay unknown.
            let i = i.as_i64().map(i128::from).or(i.as_u64().map(i128::from))?;
            DynLiteralValue::Int(i)
        } else if let Some(f) = single(dynamic, "Float") {
            // NaN and infinities are written as `null`: not a value we can know.
            DynLiteralValue::Float(f.as_f64()?)
        } else if let Some(s) = single(dynamic, "Str") {
            DynLiteralValue::Str(s.as_str()?.into())
        } else {
            return None;
        };
        return Some(Expr::Literal(LiteralValue::Dyn(v)));
    }
    let scalar = single(value, "Scalar")?.as_object()?;
    if scalar.len() != 1 {
        return None;
    }
    let (kind, v) = scalar.iter().next()?;
    let int = || v.as_i64();
    let uint = || v.as_u64();
    let scalar = match kind.as_str() {
        "Boolean" => Scalar::from(v.as_bool()?),
        "Int8" => Scalar::from(i8::try_from(int()?).ok()?),
        "Int16" => Scalar::from(i16::try_from(int()?).ok()?),
        "Int32" => Scalar::from(i32::try_from(int()?).ok()?),
        "Int64" => Scalar::from(int()?),
        "UInt8" => Scalar::from(u8::try_from(uint()?).ok()?),
        "UInt16" => Scalar::from(u16::try_from(uint()?).ok()?),
        "UInt32" => Scalar::from(u32::try_from(uint()?).ok()?),
        "UInt64" => Scalar::from(uint()?),
        // JSON holds the f32 widened to f64, exactly.
        "Float32" => Scalar::from(v.as_f64()? as f32),
        "Float64" => Scalar::from(v.as_f64()?),
        "String" => Scalar::from(PlSmallStr::from(v.as_str()?)),
        "Date" => Scalar::new_date(i32::try_from(int()?).ok()?),
        "Datetime" => {
            let [value, unit, tz] = v.as_array()?.as_slice() else {
                return None;
            };
            let tz = match tz {
                Value::Null => None,
                tz => Some(TimeZone::opt_try_new(Some(single(tz, "inner")?.as_str()?)).ok()??),
            };
            Scalar::new_datetime(value.as_i64()?, time_unit(unit)?, tz)
        }
        "Duration" => {
            let [value, unit] = v.as_array()?.as_slice() else {
                return None;
            };
            Scalar::new_duration(value.as_i64()?, time_unit(unit)?)
        }
        "Time" => Scalar::new(DataType::Time, AnyValue::Time(int()?)),
        _ => return None,
    };
    Some(Expr::Literal(LiteralValue::Scalar(scalar)))
}

fn time_unit(value: &Value) -> Option<TimeUnit> {
    Some(match value.as_str()? {
        "Nanoseconds" => TimeUnit::Nanoseconds,
        "Microseconds" => TimeUnit::Microseconds,
        "Milliseconds" => TimeUnit::Milliseconds,
        _ => return None,
    })
}

/// `{"dtype": "Int64", "values": [1, null, 3]}`: `is_in`'s list as the Python side decoded it.
fn list(value: &Value) -> Option<Series> {
    let object = value.as_object()?;
    let values = object.get("values")?.as_array()?;
    let name = PlSmallStr::EMPTY;
    macro_rules! typed {
        ($ty:ty, $get:expr) => {{
            let v: Option<Vec<Option<$ty>>> = values
                .iter()
                .map(|v| {
                    if v.is_null() {
                        Some(None)
                    } else {
                        $get(v).map(Some)
                    }
                })
                .collect();
            Series::new(name, v?)
        }};
    }
    let int = |v: &Value| v.as_i64();
    let uint = |v: &Value| v.as_u64();
    let series = match object.get("dtype")?.as_str()? {
        "Boolean" => typed!(bool, |v: &Value| v.as_bool()),
        "Int8" => typed!(i8, |v: &Value| int(v).and_then(|i| i8::try_from(i).ok())),
        "Int16" => typed!(i16, |v: &Value| int(v).and_then(|i| i16::try_from(i).ok())),
        "Int32" => typed!(i32, |v: &Value| int(v).and_then(|i| i32::try_from(i).ok())),
        "Int64" => typed!(i64, int),
        "UInt8" => typed!(u8, |v: &Value| uint(v).and_then(|i| u8::try_from(i).ok())),
        "UInt16" => typed!(u16, |v: &Value| uint(v).and_then(|i| u16::try_from(i).ok())),
        "UInt32" => typed!(u32, |v: &Value| uint(v).and_then(|i| u32::try_from(i).ok())),
        "UInt64" => typed!(u64, uint),
        "Float32" => typed!(f32, |v: &Value| v.as_f64().map(|f| f as f32)),
        "Float64" => typed!(f64, |v: &Value| v.as_f64()),
        "String" => {
            let v: Option<Vec<Option<&str>>> = values
                .iter()
                .map(|v| {
                    if v.is_null() {
                        Some(None)
                    } else {
                        v.as_str().map(Some)
                    }
                })
                .collect();
            Series::new(name, v?)
        }
        _ => return None,
    };
    Some(series)
}
