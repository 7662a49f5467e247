//! The syntax tree. The parser builds it raw and then rewrites it the way jsonata-js's
//! `processAST` does (paths of steps, predicates as stages, tuple bindings, parent slots).

use std::sync::Arc;

use crate::signature::Signature;
use crate::value::Str;

/// A binary operator that survives processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Concat,
    And,
    Or,
    In,
    Range,
}

impl BinOp {
    pub(crate) fn from_token(s: &str) -> Option<BinOp> {
        Some(match s {
            "+" => BinOp::Add,
            "-" => BinOp::Sub,
            "*" => BinOp::Mul,
            "/" => BinOp::Div,
            "%" => BinOp::Mod,
            "=" => BinOp::Eq,
            "!=" => BinOp::Ne,
            "<" => BinOp::Lt,
            "<=" => BinOp::Le,
            ">" => BinOp::Gt,
            ">=" => BinOp::Ge,
            "&" => BinOp::Concat,
            "and" => BinOp::And,
            "or" => BinOp::Or,
            "in" => BinOp::In,
            ".." => BinOp::Range,
            _ => return None,
        })
    }
}

/// A sort term of `^( ... )`.
#[derive(Debug, Clone)]
pub(crate) struct SortTerm {
    pub(crate) descending: bool,
    pub(crate) expr: Node,
}

/// A stage applied to a step's results: a filter or a positional binding.
#[derive(Debug, Clone)]
pub(crate) enum Stage {
    Filter(Box<Node>),
    Index(Str),
}

/// A group-by clause `{ key: value, ... }` applied to a step or expression.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) pairs: Vec<(Node, Node)>,
    pub(crate) pos: usize,
}

/// A function definition.
#[derive(Debug)]
pub(crate) struct LambdaDef {
    pub(crate) params: Vec<Str>,
    pub(crate) signature: Option<Signature>,
    pub(crate) body: Node,
    /// A tail call wrapped by the optimiser: evaluated by the caller's trampoline.
    pub(crate) thunk: bool,
}

/// What a node is.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Path(Vec<Node>),
    Binary(BinOp, Box<Node>, Box<Node>),
    Neg(Box<Node>),
    ArrayCons(Vec<Node>),
    ObjectCons(Vec<(Node, Node)>),
    Name(Str),
    Str(Str),
    Num(f64),
    Bool(bool),
    Null,
    Wildcard,
    Descendant,
    /// `%`: the slot id during processing, then the label of the binding.
    Parent(usize),
    /// `%` after processing: the name of the binding holding the parent.
    ParentRef(Str),
    Variable(Str),
    Regex(Arc<regex::Regex>),
    Condition(Box<Node>, Box<Node>, Option<Box<Node>>),
    Block(Vec<Node>),
    Bind(Str, Box<Node>),
    Function {
        proc: Box<Node>,
        args: Vec<Node>,
        partial: bool,
    },
    /// The `?` of a partial application.
    Placeholder,
    Lambda(Arc<LambdaDef>),
    Apply(Box<Node>, Box<Node>),
    Transform(Arc<Node>, Arc<Node>, Option<Arc<Node>>),
    Sort(Vec<SortTerm>),
    // Raw forms, rewritten by processing.
    RawBinary(&'static str, Box<Node>, Box<Node>),
    RawGroup(Box<Node>, Vec<(Node, Node)>),
    RawSort(Box<Node>, Vec<SortTerm>),
    RawLambda(Vec<Str>, Option<Signature>, Box<Node>),
    /// An operator token used as an operand (`and`, `or`, `in` as names; `?`).
    Operator(&'static str),
}

/// A node with the annotations processing attaches to steps.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    pub(crate) pos: usize,
    pub(crate) keep_array: bool,
    pub(crate) cons_array: bool,
    pub(crate) keep_singleton: bool,
    pub(crate) tuple: bool,
    pub(crate) focus: Option<Str>,
    pub(crate) index: Option<Str>,
    /// The label of the parent binding this step provides.
    pub(crate) ancestor: Option<usize>,
    /// The resolved name of that binding.
    pub(crate) ancestor_label: Option<Str>,
    pub(crate) stages: Vec<Stage>,
    pub(crate) predicate: Vec<Stage>,
    pub(crate) group: Option<Box<Group>>,
    pub(crate) seeking_parent: Vec<usize>,
}

impl Node {
    pub(crate) fn new(kind: Kind, pos: usize) -> Node {
        Node {
            kind,
            pos,
            keep_array: false,
            cons_array: false,
            keep_singleton: false,
            tuple: false,
            focus: None,
            index: None,
            ancestor: None,
            ancestor_label: None,
            stages: Vec::new(),
            predicate: Vec::new(),
            group: None,
            seeking_parent: Vec::new(),
        }
    }
}
