//! The evaluator's value type: JSON values shared by reference counting, plus JSONata's
//! undefined, functions and the flags jsonata-js keeps on arrays (sequence, singleton, ...).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use indexmap::IndexMap;

use crate::ast::{LambdaDef, Node};
use crate::eval::Env;
use crate::functions::Builtin;
use crate::Error;

/// Strings are shared with the syntax tree, which must be `Send + Sync`.
pub(crate) type Str = Arc<str>;

/// An object: insertion-ordered, mutable in place (transforms update clones in place).
pub(crate) type ObjMap = IndexMap<Str, Value, FastHash>;

/// A multiply-rotate hasher for object keys: much cheaper than SipHash on short keys.
#[derive(Default, Clone, Copy)]
pub(crate) struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(buf))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.0 = (self.0.rotate_left(5) ^ i as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, i: usize) {
        self.0 = (self.0.rotate_left(5) ^ i as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// The hasher builder for [`ObjMap`].
pub(crate) type FastHash = std::hash::BuildHasherDefault<KeyHasher>;

/// A value during evaluation.
#[derive(Clone, Default)]
pub(crate) enum Value {
    #[default]
    Undefined,
    Null,
    Bool(bool),
    Number(f64),
    String(Str),
    Array(Rc<Array>),
    Object(Rc<RefCell<ObjMap>>),
    Function(Rc<Function>),
    /// A stream of tuples (a path with `@`, `#` or `%` bindings): never seen by users.
    Tuples(Rc<Vec<Tuple>>),
}

/// Array flags as jsonata-js keeps them.
pub(crate) const SEQ: u8 = 1;
pub(crate) const KEEP: u8 = 2;
pub(crate) const CONS: u8 = 4;
pub(crate) const OUTER: u8 = 8;

/// An array with jsonata-js's flags.
pub(crate) struct Array {
    pub(crate) items: Vec<Value>,
    pub(crate) flags: Cell<u8>,
}

impl Array {
    pub(crate) fn is_seq(&self) -> bool {
        self.flags.get() & SEQ != 0
    }
    pub(crate) fn has(&self, f: u8) -> bool {
        self.flags.get() & f != 0
    }
    pub(crate) fn set(&self, f: u8) {
        self.flags.set(self.flags.get() | f)
    }
}

/// One tuple of a tuple stream: the context `@` and the variables bound along the path.
#[derive(Clone, Default)]
pub(crate) struct Tuple {
    pub(crate) at: Value,
    pub(crate) vars: Vec<(Str, Value)>,
}

impl Tuple {
    pub(crate) fn set(&mut self, name: &Str, v: Value) {
        if let Some(e) = self.vars.iter_mut().find(|(k, _)| k == name) {
            e.1 = v;
        } else {
            self.vars.push((name.clone(), v));
        }
    }
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.vars.iter().find(|(k, _)| &**k == name).map(|(_, v)| v)
    }
}

/// A native closure over evaluation values.
pub(crate) type NativeClosure = dyn Fn(&[Value]) -> Result<Value, Error>;

/// A callable value.
pub(crate) enum Function {
    Lambda {
        def: Arc<LambdaDef>,
        input: Value,
        env: Env,
    },
    /// A partially applied function: `None` marks a `?` placeholder.
    Partial {
        func: Value,
        args: Vec<Option<Value>>,
    },
    Builtin(&'static Builtin),
    /// `$f ~> $g`.
    Chain(Value, Value),
    /// A transform `| pattern | update, delete |`.
    Transform {
        pattern: Arc<Node>,
        update: Arc<Node>,
        delete: Option<Arc<Node>>,
        env: Env,
        pos: usize,
    },
    Regex(Arc<regex::Regex>),
    /// A native closure (the `next` function of a regex match).
    Native(Box<NativeClosure>),
}

impl Value {
    pub(crate) fn seq(items: Vec<Value>) -> Value {
        Value::Array(Rc::new(Array { items, flags: Cell::new(SEQ) }))
    }
    pub(crate) fn array(items: Vec<Value>) -> Value {
        Value::Array(Rc::new(Array { items, flags: Cell::new(0) }))
    }
    pub(crate) fn array_flags(items: Vec<Value>, flags: u8) -> Value {
        Value::Array(Rc::new(Array { items, flags: Cell::new(flags) }))
    }
    pub(crate) fn object(m: ObjMap) -> Value {
        Value::Object(Rc::new(RefCell::new(m)))
    }
    pub(crate) fn str(s: &str) -> Value {
        Value::String(Str::from(s))
    }
    pub(crate) fn string(s: String) -> Value {
        Value::String(Str::from(s))
    }
    pub(crate) fn func(f: Function) -> Value {
        Value::Function(Rc::new(f))
    }
    pub(crate) fn is_undef(&self) -> bool {
        matches!(self, Value::Undefined)
    }
    pub(crate) fn is_function(&self) -> bool {
        matches!(self, Value::Function(_))
    }
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }
    /// The items of an array, or the value as a one-item slice (nothing for undefined).
    pub(crate) fn members(&self) -> Vec<Value> {
        match self {
            Value::Array(a) => a.items.clone(),
            Value::Undefined => vec![],
            v => vec![v.clone()],
        }
    }
    /// Whether two values are the same JS value (`===`): by reference for objects.
    pub(crate) fn strict_eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => Rc::ptr_eq(a, b),
            (Value::Object(a), Value::Object(b)) => Rc::ptr_eq(a, b),
            (Value::Function(a), Value::Function(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }
    /// Deep equality as jsonata-js's `isDeepEqual`.
    pub(crate) fn deep_eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Array(a), Value::Array(b)) => {
                a.items.len() == b.items.len()
                    && a.items.iter().zip(b.items.iter()).all(|(x, y)| x.deep_eq(y))
            }
            (Value::Object(a), Value::Object(b)) => {
                if Rc::ptr_eq(a, b) {
                    return true;
                }
                let (a, b) = (a.borrow(), b.borrow());
                a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| v.deep_eq(w)))
            }
            (Value::Undefined, Value::Undefined) => true,
            _ => self.strict_eq(other),
        }
    }
}

/// Converts a JSON value into an evaluation value.
pub(crate) fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Value::str(s),
        serde_json::Value::Array(a) => Value::array(a.iter().map(from_json).collect()),
        serde_json::Value::Object(o) => {
            let mut m = ObjMap::with_capacity_and_hasher(o.len(), FastHash::default());
            for (k, v) in o {
                m.insert(Str::from(k.as_str()), from_json(v));
            }
            Value::object(m)
        }
    }
}

/// A double as JSON: integral values that fit come out as integers.
pub(crate) fn number_to_json(n: f64) -> Option<serde_json::Value> {
    if !n.is_finite() {
        return None;
    }
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        return Some(serde_json::Value::from(n as i64));
    }
    serde_json::Number::from_f64(n).map(serde_json::Value::Number)
}

/// Converts an evaluation value to JSON; `None` for undefined and functions (dropped as
/// `JSON.stringify` drops them). Non-finite numbers are an error (D1001).
pub(crate) fn to_json(v: &Value) -> Result<Option<serde_json::Value>, Error> {
    Ok(Some(match v {
        Value::Undefined | Value::Function(_) => return Ok(None),
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(n) => match number_to_json(*n) {
            Some(j) => j,
            None => {
                return Err(Error::new(
                    "D1001",
                    None,
                    format!("Number out of range: {}", crate::functions::num_str(*n)),
                ))
            }
        },
        Value::String(s) => serde_json::Value::String(s.to_string()),
        Value::Array(a) => {
            let mut out = Vec::with_capacity(a.items.len());
            for x in &a.items {
                out.push(to_json(x)?.unwrap_or(serde_json::Value::Null));
            }
            serde_json::Value::Array(out)
        }
        Value::Object(o) => {
            let mut m = serde_json::Map::new();
            for (k, x) in o.borrow().iter() {
                if let Some(j) = to_json(x)? {
                    m.insert(k.to_string(), j);
                }
            }
            serde_json::Value::Object(m)
        }
        Value::Tuples(t) => {
            let mut out = Vec::new();
            for x in t.iter() {
                out.push(to_json(&x.at)?.unwrap_or(serde_json::Value::Null));
            }
            serde_json::Value::Array(out)
        }
    }))
}
