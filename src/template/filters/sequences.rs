//! Python's itertools as Ansible's filters expose them: combinations, permutations, product, zip_longest.
//! Tuples come out as lists, as they do once Ansible's results are serialised.

use minijinja::value::{Kwargs, Rest, Value};
use minijinja::{Environment, Error};

use super::{add, fail};

pub fn register(env: &mut Environment<'static>) {
    add(env, "combinations", |v: &Value, r: usize| items(v).map(|l| Value::from(combinations(&l, r))));
    add(env, "permutations", |v: &Value, r: Option<usize>| items(v).map(|l| Value::from(permutations(&l, r.unwrap_or(l.len())))));
    add(env, "product", |v: &Value, rest: Rest<Value>, kw: Kwargs| -> Result<Value, Error> {
        let repeat: usize = kw.get::<Option<usize>>("repeat")?.unwrap_or(1);
        kw.assert_all_used()?;
        let mut lists = vec![items(v)?];
        for r in rest.iter() {
            lists.push(items(r)?);
        }
        let lists: Vec<Vec<Value>> = (0..repeat).flat_map(|_| lists.clone()).collect();
        Ok(Value::from(product(&lists)))
    });
    add(env, "zip_longest", |v: &Value, rest: Rest<Value>, kw: Kwargs| -> Result<Value, Error> {
        let fill: Value = kw.get::<Option<Value>>("fillvalue")?.unwrap_or(Value::from(()));
        kw.assert_all_used()?;
        let mut lists = vec![items(v)?];
        for r in rest.iter() {
            lists.push(items(r)?);
        }
        let n = lists.iter().map(Vec::len).max().unwrap_or(0);
        Ok(Value::from(
            (0..n).map(|i| Value::from(lists.iter().map(|l| l.get(i).cloned().unwrap_or(fill.clone())).collect::<Vec<_>>())).collect::<Vec<_>>(),
        ))
    });
}

fn items(v: &Value) -> Result<Vec<Value>, Error> {
    Ok(v.try_iter().map_err(|_| fail("expected a list"))?.collect())
}

/// itertools.combinations: r-length picks in input order, without repeats.
fn combinations(l: &[Value], r: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut idx: Vec<usize> = (0..r).collect();
    if r > l.len() {
        return out;
    }
    loop {
        out.push(Value::from(idx.iter().map(|&i| l[i].clone()).collect::<Vec<_>>()));
        let Some(i) = (0..r).rev().find(|&i| idx[i] != i + l.len() - r) else { return out };
        idx[i] += 1;
        for j in i + 1..r {
            idx[j] = idx[j - 1] + 1;
        }
    }
}

/// itertools.permutations: r-length arrangements in lexicographic order of positions.
fn permutations(l: &[Value], r: usize) -> Vec<Value> {
    fn go(l: &[Value], r: usize, used: &mut Vec<bool>, cur: &mut Vec<Value>, out: &mut Vec<Value>) {
        if cur.len() == r {
            out.push(Value::from(cur.clone()));
            return;
        }
        for i in 0..l.len() {
            if !used[i] {
                used[i] = true;
                cur.push(l[i].clone());
                go(l, r, used, cur, out);
                cur.pop();
                used[i] = false;
            }
        }
    }
    let mut out = Vec::new();
    if r <= l.len() {
        go(l, r, &mut vec![false; l.len()], &mut Vec::new(), &mut out);
    }
    out
}

/// itertools.product: the cartesian product, the last list varying fastest.
fn product(lists: &[Vec<Value>]) -> Vec<Value> {
    let mut acc: Vec<Vec<Value>> = vec![Vec::new()];
    for l in lists {
        acc = acc.into_iter().flat_map(|prefix| l.iter().map(move |x| [prefix.clone(), vec![x.clone()]].concat())).collect();
    }
    acc.into_iter().map(Value::from).collect()
}
