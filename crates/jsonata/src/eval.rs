//! The evaluator: walks the processed syntax tree the way jsonata-js's `evaluate` does,
//! with sequences, tuple streams for `@`/`#`/`%`, a trampoline for tail calls, and a depth
//! counter and deadline so that no expression can hang or overflow the stack.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use crate::ast::{BinOp, Kind, Node, SortTerm, Stage};
use crate::functions::{self, boolean, lookup_builtin};
use crate::value::{Function, ObjMap, Str, Tuple, Value, CONS, KEEP, OUTER, SEQ};
use crate::{Error, Options};

/// A frame of variable bindings.
pub(crate) struct Frame {
    vars: RefCell<Vec<(Str, Value)>>,
    parent: Option<Env>,
    registered: Cell<bool>,
}

/// A chain of frames.
pub(crate) type Env = Rc<Frame>;

pub(crate) fn new_frame(parent: Option<&Env>) -> Env {
    Rc::new(Frame {
        vars: RefCell::new(Vec::new()),
        parent: parent.cloned(),
        registered: Cell::new(false),
    })
}

impl Frame {
    pub(crate) fn bind(&self, name: Str, v: Value) {
        let mut vars = self.vars.borrow_mut();
        if let Some(e) = vars.iter_mut().find(|(k, _)| *k == name) {
            e.1 = v;
        } else {
            vars.push((name, v));
        }
    }
    pub(crate) fn lookup(&self, name: &str) -> Option<Value> {
        let mut f = self;
        loop {
            if let Some((_, v)) = f.vars.borrow().iter().find(|(k, _)| &**k == name) {
                return Some(v.clone());
            }
            match &f.parent {
                Some(p) => f = p,
                None => return None,
            }
        }
    }
}

/// The byte offset `b` of `s` as a character index.
pub(crate) fn char_index(s: &str, b: usize) -> usize {
    s[..b].chars().count()
}

/// One evaluation's state.
pub(crate) struct Evaluator<'o> {
    pub(crate) options: &'o Options,
    depth: Cell<usize>,
    max_depth: usize,
    ticks: Cell<u32>,
    deadline: Option<Instant>,
    stack_base: usize,
    stack_budget: usize,
    /// Frames that got `:=` bindings: cleared at the end to break closure cycles.
    bound: RefCell<Vec<Env>>,
    /// The `$random` generator state.
    pub(crate) rng: Cell<u64>,
}

fn stack_addr() -> usize {
    let x = 0u8;
    std::hint::black_box(&x) as *const u8 as usize
}

pub(crate) fn err(code: &str, pos: usize) -> Error {
    Error::new(code, Some(pos), crate::message(code).to_string())
}

fn with_pos(mut e: Error, pos: usize) -> Error {
    if e.position.is_none() {
        e.position = Some(pos);
    }
    e
}

impl Drop for Evaluator<'_> {
    fn drop(&mut self) {
        for f in self.bound.borrow_mut().drain(..) {
            let vars = std::mem::take(&mut *f.vars.borrow_mut());
            drop(vars);
        }
    }
}

impl<'o> Evaluator<'o> {
    pub(crate) fn new(options: &'o Options, stack_budget: usize) -> Self {
        let deadline =
            options.time_limit_ms.map(|ms| Instant::now() + std::time::Duration::from_millis(ms));
        Evaluator {
            options,
            depth: Cell::new(0),
            max_depth: options.max_depth.unwrap_or(crate::DEFAULT_MAX_DEPTH),
            ticks: Cell::new(0),
            deadline,
            stack_base: stack_addr(),
            stack_budget,
            bound: RefCell::new(Vec::new()),
            rng: Cell::new(options.now_millis.unwrap_or(0) as u64 ^ 0x9E37_79B9_7F4A_7C15),
        }
    }

    fn enter(&self) -> Result<(), Error> {
        let d = self.depth.get() + 1;
        self.depth.set(d);
        if d > self.max_depth || self.stack_base.abs_diff(stack_addr()) > self.stack_budget {
            return Err(Error::new(
                "U1001",
                None,
                "Stack overflow error: Check for non-terminating recursive function.  Consider rewriting as tail-recursive.".into(),
            ));
        }
        let t = self.ticks.get().wrapping_add(1);
        self.ticks.set(t);
        if t.is_multiple_of(1024) {
            self.check_time()?;
        }
        Ok(())
    }

    pub(crate) fn check_time(&self) -> Result<(), Error> {
        if let Some(dl) = self.deadline {
            if Instant::now() > dl {
                return Err(Error::new(
                    "U1001",
                    None,
                    "Expression evaluation timeout: Check for infinite loop".into(),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn register(&self, env: &Env) {
        if !env.registered.get() {
            env.registered.set(true);
            self.bound.borrow_mut().push(env.clone());
        }
    }

    pub(crate) fn eval(&self, node: &Node, input: &Value, env: &Env) -> Result<Value, Error> {
        self.enter()?;
        let r = self.eval_inner(node, input, env);
        self.depth.set(self.depth.get() - 1);
        let mut result = r?;
        if let Value::Array(a) = &result {
            if a.is_seq() {
                if node.keep_array {
                    a.set(KEEP);
                }
                if a.items.is_empty() {
                    result = Value::Undefined;
                } else if a.items.len() == 1 && !a.has(KEEP) {
                    result = a.items[0].clone();
                }
            }
        }
        Ok(result)
    }

    fn eval_inner(&self, node: &Node, input: &Value, env: &Env) -> Result<Value, Error> {
        let mut result = match &node.kind {
            Kind::Path(steps) => self.eval_path(node, steps, input, env)?,
            Kind::Binary(op, l, r) => self.eval_binary(*op, l, r, node.pos, input, env)?,
            Kind::Neg(e) => match self.eval(e, input, env)? {
                Value::Undefined => Value::Undefined,
                Value::Number(n) => Value::Number(-n),
                _ => return Err(err("D1002", node.pos)),
            },
            Kind::ArrayCons(items) => {
                let mut out: Vec<Value> = Vec::new();
                for item in items {
                    let v = self.eval(item, input, env)?;
                    if v.is_undef() {
                        continue;
                    }
                    if matches!(item.kind, Kind::ArrayCons(_)) {
                        out.push(v);
                    } else {
                        match v {
                            Value::Array(a) => out.extend(a.items.iter().cloned()),
                            v => out.push(v),
                        }
                    }
                }
                Value::array_flags(out, if node.cons_array { CONS } else { 0 })
            }
            Kind::ObjectCons(pairs) => {
                self.eval_group(pairs, node.pos, input.clone(), None, env)?
            }
            Kind::Name(n) => lookup_field(input, n),
            Kind::Str(s) => Value::String(s.clone()),
            Kind::Num(n) => Value::Number(*n),
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Null => Value::Null,
            Kind::Wildcard => wildcard(input),
            Kind::Descendant => {
                if input.is_undef() {
                    Value::Undefined
                } else {
                    let mut out = Vec::new();
                    descendants(input, &mut out);
                    if out.len() == 1 {
                        out.pop().unwrap_or_default()
                    } else {
                        Value::seq(out)
                    }
                }
            }
            Kind::ParentRef(label) => env.lookup(label).unwrap_or_default(),
            Kind::Parent(_) => Value::Undefined,
            Kind::Variable(name) => {
                if name.is_empty() {
                    match input {
                        Value::Array(a) if a.has(OUTER) => {
                            a.items.first().cloned().unwrap_or_default()
                        }
                        v => v.clone(),
                    }
                } else {
                    self.lookup_var(name, env)
                }
            }
            Kind::Regex(re) => Value::func(Function::Regex(re.clone())),
            Kind::Condition(c, t, e) => {
                let cv = self.eval(c, input, env)?;
                if boolean(&cv) {
                    self.eval(t, input, env)?
                } else if let Some(e) = e {
                    self.eval(e, input, env)?
                } else {
                    Value::Undefined
                }
            }
            Kind::Block(exprs) => {
                let frame = new_frame(Some(env));
                let mut r = Value::Undefined;
                for e in exprs {
                    r = self.eval(e, input, &frame)?;
                }
                r
            }
            Kind::Bind(name, rhs) => {
                let v = self.eval(rhs, input, env)?;
                env.bind(name.clone(), v.clone());
                self.register(env);
                v
            }
            Kind::Function { partial: false, .. } => self.eval_function(node, input, env, None)?,
            Kind::Function { proc, args, partial: true } => {
                let mut pargs = Vec::new();
                for a in args {
                    if matches!(a.kind, Kind::Placeholder) {
                        pargs.push(None);
                    } else {
                        pargs.push(Some(self.eval(a, input, env)?));
                    }
                }
                let f = self.eval(proc, input, env)?;
                if f.is_undef() && self.forgot_dollar(proc, env) {
                    return Err(err("T1007", node.pos));
                }
                if !f.is_function() {
                    return Err(err("T1008", node.pos));
                }
                Value::func(Function::Partial { func: f, args: pargs })
            }
            Kind::Placeholder | Kind::Operator(_) => return Err(err("S0201", node.pos)),
            Kind::Lambda(def) => Value::func(Function::Lambda {
                def: def.clone(),
                input: input.clone(),
                env: env.clone(),
            }),
            Kind::Apply(l, r) => {
                let lhs = self.eval(l, input, env)?;
                if matches!(r.kind, Kind::Function { partial: false, .. }) {
                    self.eval_function(r, input, env, Some(lhs))?
                } else {
                    let f = self.eval(r, input, env)?;
                    if !f.is_function() {
                        return Err(err("T2006", node.pos));
                    }
                    if lhs.is_function() {
                        Value::func(Function::Chain(lhs, f))
                    } else {
                        self.apply(&f, vec![lhs], &Value::Null, env)
                            .map_err(|e| with_pos(e, node.pos))?
                    }
                }
            }
            Kind::Transform(p, u, d) => Value::func(Function::Transform {
                pattern: p.clone(),
                update: u.clone(),
                delete: d.clone(),
                env: env.clone(),
                pos: node.pos,
            }),
            Kind::Sort(_) => {
                let items = input.members();
                self.sort_values(node, items, env)?
            }
            Kind::RawBinary(..) | Kind::RawGroup(..) | Kind::RawSort(..) | Kind::RawLambda(..) => {
                return Err(err("S0201", node.pos))
            }
        };
        for st in &node.predicate {
            if let Stage::Filter(p) = st {
                result = self.filter(p, result, env)?;
            }
        }
        if !matches!(node.kind, Kind::Path(_)) {
            if let Some(g) = &node.group {
                result = self.eval_group(&g.pairs, g.pos, result, None, env)?;
            }
        }
        Ok(result)
    }

    pub(crate) fn lookup_var(&self, name: &str, env: &Env) -> Value {
        if let Some(v) = env.lookup(name) {
            return v;
        }
        match lookup_builtin(name, self.options.step_functions) {
            Some(b) => Value::func(Function::Builtin(b)),
            None => Value::Undefined,
        }
    }

    fn forgot_dollar(&self, proc: &Node, env: &Env) -> bool {
        if let Kind::Path(steps) = &proc.kind {
            if let Kind::Name(n) = &steps[0].kind {
                return !self.lookup_var(n, env).is_undef();
            }
        }
        false
    }

    fn eval_path(
        &self,
        node: &Node,
        steps: &[Node],
        input: &Value,
        env: &Env,
    ) -> Result<Value, Error> {
        let mut input_seq: Value = match input {
            Value::Array(_) if !matches!(steps[0].kind, Kind::Variable(_)) => input.clone(),
            v => Value::seq(vec![v.clone()]),
        };
        let mut result = Value::Undefined;
        let mut is_tuple = false;
        let mut tuples: Option<Vec<Tuple>> = None;
        let last = steps.len() - 1;
        for (i, step) in steps.iter().enumerate() {
            if step.tuple {
                is_tuple = true;
            }
            if i == 0 && step.cons_array {
                result = self.eval(step, &input_seq, env)?;
            } else if is_tuple {
                tuples = Some(self.eval_tuple_step(step, &input_seq, tuples.take(), env)?);
            } else {
                result = self.eval_step(step, &input_seq, env, i == last)?;
            }
            if !is_tuple {
                let empty = match &result {
                    Value::Undefined => true,
                    Value::Array(a) => a.items.is_empty(),
                    _ => false,
                };
                if empty {
                    break;
                }
            }
            if step.focus.is_none() {
                input_seq = result.clone();
            }
        }
        let mut tuple_result = None;
        if is_tuple {
            let ts = tuples.unwrap_or_default();
            if node.tuple {
                result = Value::Tuples(Rc::new(ts.clone()));
            } else {
                result = Value::seq(ts.iter().map(|t| t.at.clone()).collect());
            }
            tuple_result = Some(ts);
        }
        if node.keep_singleton {
            if let Value::Array(a) = &result {
                if a.has(CONS) && !a.is_seq() {
                    result = Value::seq(vec![result.clone()]);
                }
            }
            if let Value::Array(a) = &result {
                a.set(KEEP);
            }
        }
        if let Some(g) = &node.group {
            result = match tuple_result {
                Some(ts) => self.eval_group(&g.pairs, g.pos, Value::Undefined, Some(ts), env)?,
                None => self.eval_group(&g.pairs, g.pos, result, None, env)?,
            };
        }
        Ok(result)
    }

    fn eval_step(&self, step: &Node, input: &Value, env: &Env, last: bool) -> Result<Value, Error> {
        let items = input.members();
        if matches!(step.kind, Kind::Sort(_)) {
            let mut r = self.sort_values(step, items, env)?;
            for st in &step.stages {
                if let Stage::Filter(p) = st {
                    r = self.filter(p, r, env)?;
                }
            }
            return Ok(r);
        }
        let mut results = Vec::with_capacity(items.len());
        for item in &items {
            let mut r = self.eval(step, item, env)?;
            for st in &step.stages {
                if let Stage::Filter(p) = st {
                    r = self.filter(p, r, env)?;
                }
            }
            if !r.is_undef() {
                results.push(r);
            }
        }
        if last && results.len() == 1 {
            if let Value::Array(a) = &results[0] {
                if !a.is_seq() {
                    return Ok(results.pop().unwrap_or_default());
                }
            }
        }
        let mut out = Vec::with_capacity(results.len());
        for r in results {
            match r {
                Value::Array(a) if !a.has(CONS) => out.extend(a.items.iter().cloned()),
                Value::Tuples(t) => out.extend(t.iter().map(|t| t.at.clone())),
                r => out.push(r),
            }
        }
        Ok(Value::seq(out))
    }

    fn tuple_frame(&self, env: &Env, t: &Tuple) -> Env {
        let f = new_frame(Some(env));
        {
            let mut vars = f.vars.borrow_mut();
            vars.push((Str::from("@"), t.at.clone()));
            vars.extend(t.vars.iter().cloned());
        }
        f
    }

    fn eval_tuple_step(
        &self,
        step: &Node,
        input: &Value,
        tuples: Option<Vec<Tuple>>,
        env: &Env,
    ) -> Result<Vec<Tuple>, Error> {
        if let Kind::Sort(terms) = &step.kind {
            let mut result = match tuples {
                Some(ts) => self.sort_tuples(terms, step.pos, ts, env)?,
                None => {
                    let sorted = self.sort_values(step, input.members(), env)?;
                    sorted
                        .members()
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| {
                            let mut t = Tuple { at: v, vars: vec![] };
                            if let Some(ix) = &step.index {
                                t.set(ix, Value::Number(i as f64));
                            }
                            t
                        })
                        .collect()
                }
            };
            result = self.tuple_stages(&step.stages, result, env)?;
            return Ok(result);
        }
        let tuples = tuples.unwrap_or_else(|| {
            input.members().into_iter().map(|v| Tuple { at: v, vars: vec![] }).collect()
        });
        let mut out = Vec::new();
        for t in &tuples {
            let fenv = self.tuple_frame(env, t);
            let res = self.eval(step, &t.at, &fenv)?;
            match res {
                Value::Undefined => {}
                Value::Tuples(rs) => {
                    for r in rs.iter() {
                        let mut nt = t.clone();
                        nt.at = r.at.clone();
                        for (k, v) in &r.vars {
                            nt.set(k, v.clone());
                        }
                        out.push(nt);
                    }
                }
                res => {
                    let items = match &res {
                        Value::Array(a) => a.items.clone(),
                        v => vec![v.clone()],
                    };
                    for (bb, v) in items.into_iter().enumerate() {
                        let mut nt = t.clone();
                        if let Some(f) = &step.focus {
                            nt.set(f, v);
                        } else {
                            nt.at = v;
                        }
                        if let Some(ix) = &step.index {
                            nt.set(ix, Value::Number(bb as f64));
                        }
                        if let Some(a) = &step.ancestor_label {
                            nt.set(a, t.at.clone());
                        }
                        out.push(nt);
                    }
                }
            }
        }
        self.tuple_stages(&step.stages, out, env)
    }

    fn tuple_stages(
        &self,
        stages: &[Stage],
        mut ts: Vec<Tuple>,
        env: &Env,
    ) -> Result<Vec<Tuple>, Error> {
        for st in stages {
            match st {
                Stage::Filter(p) => ts = self.filter_tuples(p, ts, env)?,
                Stage::Index(name) => {
                    for (i, t) in ts.iter_mut().enumerate() {
                        t.set(name, Value::Number(i as f64));
                    }
                }
            }
        }
        Ok(ts)
    }

    fn predicate_matches(
        &self,
        pred: &Node,
        ctx: &Value,
        env: &Env,
        index: usize,
        len: usize,
    ) -> Result<bool, Error> {
        let res = self.eval(pred, ctx, env)?;
        let check = |n: f64| -> bool {
            let mut i = n.floor();
            if i < 0.0 {
                i += len as f64;
            }
            i == index as f64
        };
        match &res {
            Value::Number(n) => {
                functions::check_finite(*n)?;
                Ok(check(*n))
            }
            Value::Array(a)
                if !a.items.is_empty() && a.items.iter().all(|v| matches!(v, Value::Number(_))) =>
            {
                Ok(a.items.iter().any(|v| check(v.as_f64().unwrap_or(f64::NAN))))
            }
            Value::Array(a) if a.items.is_empty() => Ok(false),
            r => Ok(boolean(r)),
        }
    }

    pub(crate) fn filter(&self, pred: &Node, input: Value, env: &Env) -> Result<Value, Error> {
        if let Value::Tuples(ts) = input {
            return Ok(Value::Tuples(Rc::new(self.filter_tuples(pred, (*ts).clone(), env)?)));
        }
        let items = match &input {
            Value::Array(a) => a.items.clone(),
            Value::Undefined => vec![],
            v => vec![v.clone()],
        };
        if let Kind::Num(n) = pred.kind {
            let mut i = n.floor();
            if i < 0.0 {
                i += items.len() as f64;
            }
            if i >= 0.0 && (i as usize) < items.len() {
                let item = &items[i as usize];
                if let Value::Array(_) = item {
                    return Ok(item.clone());
                }
                return Ok(Value::seq(vec![item.clone()]));
            }
            return Ok(Value::seq(vec![]));
        }
        let mut out = Vec::new();
        let len = items.len();
        for (idx, item) in items.into_iter().enumerate() {
            if self.predicate_matches(pred, &item, env, idx, len)? {
                out.push(item);
            }
        }
        Ok(Value::seq(out))
    }

    fn filter_tuples(&self, pred: &Node, ts: Vec<Tuple>, env: &Env) -> Result<Vec<Tuple>, Error> {
        if let Kind::Num(n) = pred.kind {
            let mut i = n.floor();
            if i < 0.0 {
                i += ts.len() as f64;
            }
            if i >= 0.0 && (i as usize) < ts.len() {
                return Ok(vec![ts[i as usize].clone()]);
            }
            return Ok(vec![]);
        }
        let mut out = Vec::new();
        let len = ts.len();
        for (idx, t) in ts.into_iter().enumerate() {
            let fenv = self.tuple_frame(env, &t);
            if self.predicate_matches(pred, &t.at, &fenv, idx, len)? {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Group-by and object construction. `tuples` is set when the input is a tuple stream.
    fn eval_group(
        &self,
        pairs: &[(Node, Node)],
        pos: usize,
        input: Value,
        tuples: Option<Vec<Tuple>>,
        env: &Env,
    ) -> Result<Value, Error> {
        enum Data {
            Plain(Value),
            Tuples(Vec<Tuple>),
        }
        let mut groups: indexmap::IndexMap<Str, (Data, usize), crate::value::FastHash> =
            indexmap::IndexMap::default();
        if let Some(ts) = tuples {
            let ts = if ts.is_empty() { vec![Tuple::default()] } else { ts };
            for t in ts {
                let fenv = self.tuple_frame(env, &t);
                for (pi, (k, _)) in pairs.iter().enumerate() {
                    let key = self.eval(k, &t.at, &fenv)?;
                    let key = match key {
                        Value::String(s) => s,
                        Value::Undefined => continue,
                        _ => return Err(err("T1003", pos)),
                    };
                    match groups.get_mut(&key) {
                        Some((Data::Tuples(v), ei)) => {
                            if *ei != pi {
                                return Err(err("D1009", pos));
                            }
                            v.push(t.clone());
                        }
                        Some(_) => {}
                        None => {
                            groups.insert(key, (Data::Tuples(vec![t.clone()]), pi));
                        }
                    }
                }
            }
        } else {
            let items = match &input {
                Value::Array(a) if !a.items.is_empty() => a.items.clone(),
                Value::Array(_) => vec![Value::Undefined],
                v => vec![v.clone()],
            };
            for item in items {
                for (pi, (k, _)) in pairs.iter().enumerate() {
                    let key = self.eval(k, &item, env)?;
                    let key = match key {
                        Value::String(s) => s,
                        Value::Undefined => continue,
                        _ => return Err(err("T1003", pos)),
                    };
                    match groups.get_mut(&key) {
                        Some((Data::Plain(v), ei)) => {
                            if *ei != pi {
                                return Err(err("D1009", pos));
                            }
                            *v = functions::append(std::mem::take(v), item.clone());
                        }
                        Some(_) => {}
                        None => {
                            groups.insert(key, (Data::Plain(item.clone()), pi));
                        }
                    }
                }
            }
        }
        let mut result = ObjMap::default();
        for (key, (data, ei)) in groups {
            let vexpr = &pairs[ei].1;
            let value = match data {
                Data::Plain(ctx) => self.eval(vexpr, &ctx, env)?,
                Data::Tuples(ts) => {
                    let mut acc = ts[0].clone();
                    for t in &ts[1..] {
                        acc.at = functions::append(std::mem::take(&mut acc.at), t.at.clone());
                        for (k, v) in &t.vars {
                            let cur = acc.get(k).cloned().unwrap_or_default();
                            acc.set(k, functions::append(cur, v.clone()));
                        }
                    }
                    let ctx = std::mem::take(&mut acc.at);
                    let f = new_frame(Some(env));
                    f.vars.borrow_mut().extend(acc.vars.iter().cloned());
                    self.eval(vexpr, &ctx, &f)?
                }
            };
            if !value.is_undef() {
                result.insert(key, value);
            }
        }
        Ok(Value::object(result))
    }

    fn compare_terms(
        &self,
        terms: &[SortTerm],
        pos: usize,
        a: (&Value, &Env),
        b: (&Value, &Env),
    ) -> Result<bool, Error> {
        for term in terms {
            let aa = self.eval(&term.expr, a.0, a.1)?;
            let bb = self.eval(&term.expr, b.0, b.1)?;
            if aa.is_undef() {
                if bb.is_undef() {
                    continue;
                }
                return Ok(true);
            }
            if bb.is_undef() {
                return Ok(false);
            }
            let ord = match (&aa, &bb) {
                (Value::Number(x), Value::Number(y)) => x.partial_cmp(y),
                (Value::String(x), Value::String(y)) => Some(functions::cmp_str(x, y)),
                (Value::Number(_) | Value::String(_), Value::Number(_) | Value::String(_)) => {
                    return Err(err("T2007", pos))
                }
                _ => return Err(err("T2008", pos)),
            };
            let mut comp = match ord {
                Some(std::cmp::Ordering::Less) => -1,
                Some(std::cmp::Ordering::Greater) => 1,
                _ => 0,
            };
            if comp == 0 {
                continue;
            }
            if term.descending {
                comp = -comp;
            }
            return Ok(comp == 1);
        }
        Ok(false)
    }

    fn sort_values(&self, node: &Node, items: Vec<Value>, env: &Env) -> Result<Value, Error> {
        let Kind::Sort(terms) = &node.kind else { return Ok(Value::seq(items)) };
        let sorted =
            merge_sort(items, &mut |a, b| self.compare_terms(terms, node.pos, (a, env), (b, env)))?;
        Ok(Value::seq(sorted))
    }

    fn sort_tuples(
        &self,
        terms: &[SortTerm],
        pos: usize,
        ts: Vec<Tuple>,
        env: &Env,
    ) -> Result<Vec<Tuple>, Error> {
        merge_sort(ts, &mut |a, b| {
            let ea = self.tuple_frame(env, a);
            let eb = self.tuple_frame(env, b);
            self.compare_terms(terms, pos, (&a.at, &ea), (&b.at, &eb))
        })
    }

    fn eval_binary(
        &self,
        op: BinOp,
        l: &Node,
        r: &Node,
        pos: usize,
        input: &Value,
        env: &Env,
    ) -> Result<Value, Error> {
        let lhs = self.eval(l, input, env)?;
        if op == BinOp::And || op == BinOp::Or {
            let lb = boolean(&lhs);
            return Ok(Value::Bool(match op {
                BinOp::And => lb && boolean(&self.eval(r, input, env)?),
                _ => lb || boolean(&self.eval(r, input, env)?),
            }));
        }
        let rhs = self.eval(r, input, env)?;
        functions::binary(op, &lhs, &rhs).map_err(|e| with_pos(e, pos))
    }

    fn eval_function(
        &self,
        node: &Node,
        input: &Value,
        env: &Env,
        applyto: Option<Value>,
    ) -> Result<Value, Error> {
        let Kind::Function { proc, args, .. } = &node.kind else { return Ok(Value::Undefined) };
        let f = self.eval(proc, input, env)?;
        if f.is_undef() && self.forgot_dollar(proc, env) {
            return Err(err("T1005", node.pos));
        }
        let mut evaluated = Vec::with_capacity(args.len() + 1);
        if let Some(a) = applyto {
            evaluated.push(a);
        }
        for a in args {
            evaluated.push(self.eval(a, input, env)?);
        }
        self.apply(&f, evaluated, input, env).map_err(|e| with_pos(e, node.pos))
    }

    /// Invokes a function, running the tail-call trampoline.
    pub(crate) fn apply(
        &self,
        f: &Value,
        args: Vec<Value>,
        input: &Value,
        env: &Env,
    ) -> Result<Value, Error> {
        let mut result = self.apply_inner(f, args, input, env)?;
        loop {
            let next = match &result {
                Value::Function(rc) => match &**rc {
                    Function::Lambda { def, input: tin, env: tenv } if def.thunk => {
                        let Kind::Function { proc, args, .. } = &def.body.kind else { break };
                        let next = self.eval(proc, tin, tenv)?;
                        let mut a = Vec::with_capacity(args.len());
                        for arg in args {
                            a.push(self.eval(arg, tin, tenv)?);
                        }
                        self.check_time()?;
                        Some((next, a, def.body.pos))
                    }
                    _ => None,
                },
                _ => None,
            };
            match next {
                Some((f, a, pos)) => {
                    result = self.apply_inner(&f, a, input, env).map_err(|e| with_pos(e, pos))?;
                }
                None => break,
            }
        }
        Ok(result)
    }

    fn apply_inner(
        &self,
        f: &Value,
        args: Vec<Value>,
        input: &Value,
        env: &Env,
    ) -> Result<Value, Error> {
        let Value::Function(rc) = f else {
            return Err(err("T1006", 0));
        };
        match &**rc {
            Function::Lambda { def, input: lin, env: lenv } => {
                let args = match &def.signature {
                    Some(sig) => sig.validate(&args, input)?,
                    None => args,
                };
                let frame = new_frame(Some(lenv));
                {
                    let mut vars = frame.vars.borrow_mut();
                    let mut it = args.into_iter();
                    for p in &def.params {
                        vars.push((p.clone(), it.next().unwrap_or_default()));
                    }
                }
                self.eval(&def.body, lin, &frame)
            }
            Function::Builtin(b) => {
                let args = b.signature.validate(&args, input)?;
                (b.func)(self, &args, input, env)
            }
            Function::Partial { func, args: pargs } => {
                let mut it = args.into_iter();
                let full: Vec<Value> = pargs
                    .iter()
                    .map(|p| match p {
                        Some(v) => v.clone(),
                        None => it.next().unwrap_or_default(),
                    })
                    .collect();
                self.apply(func, full, input, env)
            }
            Function::Chain(a, b) => {
                let r = self.apply(a, args, input, env)?;
                self.apply(b, vec![r], input, env)
            }
            Function::Transform { pattern, update, delete, env: tenv, pos } => {
                let arg = args.into_iter().next().unwrap_or_default();
                self.transform(&arg, pattern, update, delete.as_deref(), tenv, *pos)
            }
            Function::Regex(re) => {
                let s = match args.first() {
                    Some(Value::String(s)) => s.clone(),
                    _ => return Ok(Value::Undefined),
                };
                let from = match args.get(1) {
                    Some(Value::Number(n)) => {
                        s.char_indices().nth(*n as usize).map(|(b, _)| b).unwrap_or(s.len())
                    }
                    _ => 0,
                };
                Ok(crate::regex::exec(re, &s, from))
            }
            Function::Native(f) => f(&args),
        }
    }

    fn transform(
        &self,
        obj: &Value,
        pattern: &Node,
        update: &Node,
        delete: Option<&Node>,
        env: &Env,
        pos: usize,
    ) -> Result<Value, Error> {
        match obj {
            Value::Undefined => return Ok(Value::Undefined),
            Value::Object(_) | Value::Array(_) => {}
            _ => return Err(err("T0410", pos)),
        }
        let result = functions::deep_clone(obj);
        let matches = self.eval(pattern, &result, env)?;
        let matches = match matches {
            Value::Undefined => vec![],
            Value::Array(a) => a.items.clone(),
            v => vec![v],
        };
        for m in &matches {
            let upd = self.eval(update, m, env)?;
            match &upd {
                Value::Undefined => {}
                Value::Object(u) => {
                    let entries: Vec<(Str, Value)> =
                        u.borrow().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    if let Value::Object(mo) = m {
                        let mut mo = mo.borrow_mut();
                        for (k, v) in entries {
                            mo.insert(k, v);
                        }
                    }
                }
                _ => return Err(err("T2011", update.pos)),
            }
            if let Some(d) = delete {
                let dels = self.eval(d, m, env)?;
                if dels.is_undef() {
                    continue;
                }
                let list = match &dels {
                    Value::Array(a) => a.items.clone(),
                    v => vec![v.clone()],
                };
                if !list.iter().all(|v| matches!(v, Value::String(_))) {
                    return Err(err("T2012", d.pos));
                }
                if let Value::Object(mo) = m {
                    let mut mo = mo.borrow_mut();
                    for k in list {
                        if let Value::String(k) = k {
                            mo.shift_remove(&*k);
                        }
                    }
                }
            }
        }
        Ok(result)
    }
}

/// Stable merge sort with a fallible "should swap" comparator, as jsonata-js's `$sort`.
pub(crate) fn merge_sort<T: Clone>(
    items: Vec<T>,
    swap: &mut dyn FnMut(&T, &T) -> Result<bool, Error>,
) -> Result<Vec<T>, Error> {
    if items.len() <= 1 {
        return Ok(items);
    }
    let mid = items.len() / 2;
    let mut left = items;
    let right = left.split_off(mid);
    let left = merge_sort(left, swap)?;
    let right = merge_sort(right, swap)?;
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        if swap(&left[i], &right[j])? {
            out.push(right[j].clone());
            j += 1;
        } else {
            out.push(left[i].clone());
            i += 1;
        }
    }
    out.extend_from_slice(&left[i..]);
    out.extend_from_slice(&right[j..]);
    Ok(out)
}

/// Field lookup over objects and (recursively) arrays.
pub(crate) fn lookup_field(input: &Value, key: &str) -> Value {
    match input {
        Value::Array(a) => {
            let mut out = Vec::new();
            for item in &a.items {
                match lookup_field(item, key) {
                    Value::Undefined => {}
                    Value::Array(r) => out.extend(r.items.iter().cloned()),
                    v => out.push(v),
                }
            }
            Value::seq(out)
        }
        Value::Object(o) => o.borrow().get(key).cloned().unwrap_or_default(),
        _ => Value::Undefined,
    }
}

fn flatten_into(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(a) => a.items.iter().for_each(|x| flatten_into(x, out)),
        v => out.push(v.clone()),
    }
}

fn wildcard(input: &Value) -> Value {
    let input = match input {
        Value::Array(a) if a.has(OUTER) && !a.items.is_empty() => &a.items[0],
        v => v,
    };
    let mut out = Vec::new();
    let mut flags = SEQ;
    match input {
        Value::Object(o) => {
            for v in o.borrow().values() {
                if let Value::Array(_) = v {
                    let mut flat = Vec::new();
                    flatten_into(v, &mut flat);
                    out.extend(flat);
                    flags = 0;
                } else {
                    out.push(v.clone());
                }
            }
        }
        Value::Array(a) => {
            for v in &a.items {
                if let Value::Array(_) = v {
                    flatten_into(v, &mut out);
                    flags = 0;
                } else {
                    out.push(v.clone());
                }
            }
        }
        _ => {}
    }
    Value::array_flags(out, flags)
}

fn descendants(input: &Value, out: &mut Vec<Value>) {
    match input {
        Value::Array(a) => a.items.iter().for_each(|v| descendants(v, out)),
        Value::Object(o) => {
            out.push(input.clone());
            for v in o.borrow().values() {
                descendants(v, out);
            }
        }
        v => out.push(v.clone()),
    }
}
