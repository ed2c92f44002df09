//! Registration of every filter hlprov offers, under its short name and its `ansible.builtin.` name, and the
//! strictness rule: a filter given an undefined value fails naming it (Ansible's "'x' is undefined"), except
//! the filters made to handle undefined values (`default`, `mandatory`). Each filter family lives in its own
//! file; this one holds no filter logic.

mod collections;
mod core;
mod hash;
mod ipaddr;
mod jinja_text;
mod numbers;
mod paths;
mod pyrandom;
pub(crate) mod pyyaml;
pub(crate) mod serialize;
pub use serialize::json_of;
mod sequences;
mod sha512_crypt;
mod text;
mod time;
pub(crate) mod url;

use minijinja::value::{Rest, Value, ValueOrKwargs};
use minijinja::{Environment, Error, ErrorKind, State};

pub use self::core::python_repr;
pub use self::text::{compile as compile_regex, text_of};

/// The error for using `v`, an undefined value. Inside a render, minijinja names the expression that produced
/// it ("`foo.bar` is undefined").
pub fn undefined_error(v: &Value) -> Error {
    match v.get_attr("__hlprov__") {
        Err(e) => e,
        Ok(_) => Error::new(ErrorKind::UndefinedError, "an undefined value was used"),
    }
}

/// Fail if `v` is undefined.
pub fn defined(v: &Value) -> Result<(), Error> {
    if v.is_undefined() { Err(undefined_error(v)) } else { Ok(()) }
}

/// A filter error with a message (never quote the filtered value: it may be a secret).
pub fn fail(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

type Filter = dyn Fn(&mut State, Rest<ValueOrKwargs>) -> Result<Value, Error> + Send + Sync + 'static;

/// Wrap a built-in minijinja filter so that it refuses an undefined input instead of treating it as "".
fn strict(f: Value) -> Box<Filter> {
    Box::new(move |state: &mut State, args: Rest<ValueOrKwargs>| {
        let args: Vec<Value> = args.0.into_iter().map(Value::from).collect();
        if let Some(first) = args.first() {
            defined(first)?;
        }
        f.call(state, &args)
    })
}

/// Register `name` and `ansible.builtin.<name>`.
fn add<F, Rv, Args>(env: &mut Environment<'static>, name: &'static str, f: F)
where
    F: minijinja::functions::Function<Rv, Args> + Clone,
    Rv: minijinja::value::FunctionResult,
    Args: for<'a> minijinja::value::FunctionArgs<'a>,
{
    env.add_filter(format!("ansible.builtin.{name}"), f.clone());
    env.add_filter(name, f);
}

pub fn register(env: &mut Environment<'static>) {
    use minijinja::filters as b;
    let builtins: Vec<(&'static str, Value)> = vec![
        ("lower", Value::from_function(b::lower)),
        ("upper", Value::from_function(b::upper)),
        ("title", Value::from_function(b::title)),
        ("capitalize", Value::from_function(b::capitalize)),
        ("replace", Value::from_function(b::replace)),
        ("length", Value::from_function(b::length)),
        ("count", Value::from_function(b::length)),
        ("items", Value::from_function(b::items)),
        ("reverse", Value::from_function(b::reverse)),
        ("trim", Value::from_function(b::trim)),
        ("join", Value::from_function(b::join)),
        ("split", Value::from_function(b::split)),
        ("lines", Value::from_function(b::lines)),
        ("round", Value::from_function(b::round)),
        ("abs", Value::from_function(b::abs)),
        ("attr", Value::from_function(b::attr)),
        ("first", Value::from_function(b::first)),
        ("last", Value::from_function(b::last)),
        ("min", Value::from_function(b::min)),
        ("max", Value::from_function(b::max)),
        ("sort", Value::from_function(b::sort)),
        ("list", Value::from_function(b::list)),
        ("batch", Value::from_function(b::batch)),
        ("slice", Value::from_function(b::slice)),
        ("sum", Value::from_function(b::sum)),
        ("indent", Value::from_function(b::indent)),
        ("select", Value::from_function(b::select)),
        ("reject", Value::from_function(b::reject)),
        ("selectattr", Value::from_function(b::selectattr)),
        ("rejectattr", Value::from_function(b::rejectattr)),
        ("map", Value::from_function(b::map)),
        ("groupby", Value::from_function(b::groupby)),
        ("zip", Value::from_function(b::zip)),
        ("format", Value::from_function(b::format)),
        ("urlencode", Value::from_function(b::urlencode)),
        ("dictsort", Value::from_function(b::dictsort)),
    ];
    for (name, f) in builtins {
        let wrapped: std::sync::Arc<Filter> = std::sync::Arc::from(strict(f));
        let w2 = wrapped.clone();
        env.add_filter(name, move |s: &mut State, a: Rest<ValueOrKwargs>| wrapped(s, a));
        env.add_filter(format!("ansible.builtin.{name}"), move |s: &mut State, a: Rest<ValueOrKwargs>| w2(s, a));
    }
    core::register(env);
    text::register(env);
    collections::register(env);
    serialize::register(env);
    hash::register(env);
    ipaddr::register(env);
    jinja_text::register(env);
    numbers::register(env);
    paths::register(env);
    sequences::register(env);
    url::register(env);
    pyrandom::register(env);
    time::register(env);
}
