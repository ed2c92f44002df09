//! `random` and `shuffle` as Ansible's filters give them: with `seed=`, Python's own `random.Random(seed)`
//! (MT19937 seeded as CPython seeds it), so `59 | random(seed=inventory_hostname)` picks the same minute as
//! Ansible and the same on every run; without a seed, a fresh random value each time, as in Ansible.

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error};
use sha2::{Digest, Sha512};

use super::{add, defined, fail};

pub fn register(env: &mut Environment<'static>) {
    add(env, "random", random);
    add(env, "shuffle", shuffle);
}

/// CPython's Mersenne Twister (`_randommodule.c`).
struct PyRandom {
    mt: [u32; 624],
    index: usize,
}

impl PyRandom {
    /// `random.Random(seed)` for a string or an integer seed (CPython's version 2 seeding).
    fn new(seed: &Value) -> Result<PyRandom, Error> {
        // The seed as an unsigned number, least significant byte first.
        let mut bytes_le: Vec<u8> = match seed.kind() {
            ValueKind::String => {
                let text = seed.as_str().unwrap_or_default().as_bytes().to_vec();
                let mut big_endian = text.clone();
                big_endian.extend_from_slice(&Sha512::digest(&text));
                big_endian.into_iter().rev().collect()
            }
            ValueKind::Number if seed.as_i64().is_some() => seed.as_i64().unwrap_or(0).unsigned_abs().to_le_bytes().to_vec(),
            _ => return Err(fail(format!("random seed must be a string or an integer, not {}", seed.kind()))),
        };
        while bytes_le.len() > 1 && bytes_le.last() == Some(&0) {
            bytes_le.pop();
        }
        let key: Vec<u32> = bytes_le
            .chunks(4)
            .map(|c| {
                let mut w = [0u8; 4];
                w[..c.len()].copy_from_slice(c);
                u32::from_le_bytes(w)
            })
            .collect();
        Ok(PyRandom::by_array(&key))
    }

    fn by_array(key: &[u32]) -> PyRandom {
        let mut mt = [0u32; 624];
        mt[0] = 19_650_218;
        for i in 1..624 {
            mt[i] = 1_812_433_253u32.wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_add(i as u32);
        }
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..624.max(key.len()) {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_664_525)).wrapping_add(key[j]).wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= 624 {
                mt[0] = mt[623];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..623 {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= 624 {
                mt[0] = mt[623];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        PyRandom { mt, index: 624 }
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            for k in 0..624 {
                let y = (self.mt[k] & 0x8000_0000) | (self.mt[(k + 1) % 624] & 0x7fff_ffff);
                let mag = if y & 1 == 1 { 0x9908_b0df } else { 0 };
                self.mt[k] = self.mt[(k + 397) % 624] ^ (y >> 1) ^ mag;
            }
            self.index = 0;
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `getrandbits(k)` for k up to 64.
    fn bits(&mut self, k: u32) -> u64 {
        if k <= 32 {
            return u64::from(self.next_u32() >> (32 - k));
        }
        let low = u64::from(self.next_u32());
        let high = u64::from(self.next_u32() >> (64 - k));
        (high << 32) | low
    }

    /// `_randbelow(n)`: a number in 0..n, drawn as CPython draws it.
    fn below(&mut self, n: u64) -> u64 {
        let k = 64 - n.leading_zeros();
        loop {
            let r = self.bits(k);
            if r < n {
                return r;
            }
        }
    }
}

/// A number in 0..n: from the seeded generator, or from the OS's randomness without a seed.
fn below(rng: &mut Option<PyRandom>, n: u64) -> u64 {
    match rng {
        Some(r) => r.below(n),
        None => rand::Rng::gen_range(&mut rand::thread_rng(), 0..n),
    }
}

fn seeded(kwargs: &Kwargs) -> Result<Option<PyRandom>, Error> {
    match kwargs.get::<Option<Value>>("seed")? {
        Some(seed) if !seed.is_none() && !seed.is_undefined() => Ok(Some(PyRandom::new(&seed)?)),
        _ => Ok(None),
    }
}

/// `end | random(start=0, step=1, seed=None)`: a number of `range(start, end, step)`; `list | random`: one item.
fn random(end: &Value, start: Option<i64>, step: Option<i64>, kwargs: Kwargs) -> Result<Value, Error> {
    defined(end)?;
    let mut rng = seeded(&kwargs)?;
    let start = match start {
        Some(s) => Some(s),
        None => kwargs.get::<Option<i64>>("start")?,
    };
    let step = match step {
        Some(s) => Some(s),
        None => kwargs.get::<Option<i64>>("step")?,
    };
    kwargs.assert_all_used()?;
    if let Some(stop) = end.as_i64() {
        let (start, step) = (start.unwrap_or(0), step.filter(|s| *s != 0).unwrap_or(1));
        let width = stop - start;
        let n = if step == 1 {
            width
        } else if step > 0 {
            (width + step - 1).div_euclid(step)
        } else {
            (width + step + 1).div_euclid(step)
        };
        if n <= 0 {
            return Err(fail(format!("random: empty range for randrange({start}, {stop}, {step})")));
        }
        return Ok(Value::from(start + step * below(&mut rng, n as u64) as i64));
    }
    if start.is_some() || step.is_some() {
        return Err(fail("random: start and step can only be used with integer values"));
    }
    let items: Vec<Value> = end.try_iter().map_err(|_| fail(format!("random: cannot pick from {}", end.kind())))?.collect();
    if items.is_empty() {
        return Err(fail("random: Cannot choose from an empty sequence"));
    }
    let i = below(&mut rng, items.len() as u64) as usize;
    Ok(items[i].clone())
}

/// `list | shuffle(seed=None)`: the items in a random order (Python's `Random(seed).shuffle`).
fn shuffle(list: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    defined(list)?;
    let mut rng = seeded(&kwargs)?;
    kwargs.assert_all_used()?;
    let mut items: Vec<Value> = match list.try_iter() {
        Ok(it) => it.collect(),
        // Ansible gives back what it cannot shuffle.
        Err(_) => return Ok(list.clone()),
    };
    for i in (1..items.len()).rev() {
        let j = below(&mut rng, i as u64 + 1) as usize;
        items.swap(i, j);
    }
    Ok(Value::from(items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_draws_are_cpythons() {
        // Each value printed by CPython 3.11's random module for the same seed.
        let first = |seed: Value| PyRandom::new(&seed).unwrap().next_u32();
        assert_eq!(first(Value::from(42)), 2_746_317_213); // Random(42).getrandbits(32)
        assert_eq!(first(Value::from(0)), 3_626_764_237);
        assert_eq!(first(Value::from(-5)), 2_675_342_405);
        assert_eq!(first(Value::from(1i64 << 40)), 445_128_065);
        assert_eq!(PyRandom::new(&Value::from("h1")).unwrap().below(60), 32); // Random('h1').randrange(60)
        assert_eq!(PyRandom::new(&Value::from("")).unwrap().below(10), 7);
        let kw = |seed: Value| Kwargs::from_iter([("seed", seed)]);
        let shuffled = shuffle(&Value::from(vec![1, 2, 3, 4, 5]), kw(Value::from("seed"))).unwrap();
        assert_eq!(shuffled.to_string(), "[3, 5, 4, 1, 2]");
        let choice = random(&Value::from(vec!["a", "b", "c"]), None, None, kw(Value::from("x"))).unwrap();
        assert_eq!(choice.as_str(), Some("c"));
        assert_eq!(random(&Value::from(100), Some(1), Some(3), kw(Value::from(7))).unwrap(), Value::from(61));
    }
}
