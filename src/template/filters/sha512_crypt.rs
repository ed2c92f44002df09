//! SHA-512-crypt (`$6$salt$hash`, Ulrich Drepper's specification), what Ansible's `password_hash('sha512')`
//! produces (via passlib or crypt) and what /etc/shadow holds. Only the algorithm lives here.

use sha2::{Digest, Sha512};

pub const DEFAULT_ROUNDS: u32 = 5000;
const ITOA64: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Hash `password` with `salt` (at most 16 characters are used) and `rounds` (clamped to 1000..=999999999).
/// The default 5000 rounds are not written into the result, as crypt(3) and passlib do.
pub fn hash(password: &[u8], salt: &str, rounds: u32) -> String {
    let rounds = rounds.clamp(1000, 999_999_999);
    let salt: String = salt.chars().take(16).collect();
    let s = salt.as_bytes();
    let p = password;

    let b = Sha512::new().chain_update(p).chain_update(s).chain_update(p).finalize();
    let mut a = Sha512::new().chain_update(p).chain_update(s);
    a.update(repeat_to(&b, p.len()));
    let mut n = p.len();
    while n > 0 {
        if n & 1 == 1 {
            a.update(b);
        } else {
            a.update(p);
        }
        n >>= 1;
    }
    let a = a.finalize();

    let mut dp = Sha512::new();
    for _ in 0..p.len() {
        dp.update(p);
    }
    let p_seq = repeat_to(&dp.finalize(), p.len());
    let mut ds = Sha512::new();
    for _ in 0..(16 + a[0] as usize) {
        ds.update(s);
    }
    let s_seq = repeat_to(&ds.finalize(), s.len());

    let mut c = a;
    for i in 0..rounds {
        let mut h = Sha512::new();
        if i % 2 == 1 {
            h.update(&p_seq);
        } else {
            h.update(c);
        }
        if i % 3 != 0 {
            h.update(&s_seq);
        }
        if i % 7 != 0 {
            h.update(&p_seq);
        }
        if i % 2 == 1 {
            h.update(c);
        } else {
            h.update(&p_seq);
        }
        c = h.finalize();
    }

    const ORDER: [(usize, usize, usize); 21] = [
        (0, 21, 42),
        (22, 43, 1),
        (44, 2, 23),
        (3, 24, 45),
        (25, 46, 4),
        (47, 5, 26),
        (6, 27, 48),
        (28, 49, 7),
        (50, 8, 29),
        (9, 30, 51),
        (31, 52, 10),
        (53, 11, 32),
        (12, 33, 54),
        (34, 55, 13),
        (56, 14, 35),
        (15, 36, 57),
        (37, 58, 16),
        (59, 17, 38),
        (18, 39, 60),
        (40, 61, 19),
        (62, 20, 41),
    ];
    let mut out = String::from("$6$");
    if rounds != DEFAULT_ROUNDS {
        out.push_str(&format!("rounds={rounds}$"));
    }
    out.push_str(&salt);
    out.push('$');
    for (x, y, z) in ORDER {
        b64_24(&mut out, c[x], c[y], c[z], 4);
    }
    b64_24(&mut out, 0, 0, c[63], 2);
    out
}

fn repeat_to(block: &[u8], len: usize) -> Vec<u8> {
    block.iter().copied().cycle().take(len).collect()
}

fn b64_24(out: &mut String, b2: u8, b1: u8, b0: u8, n: usize) {
    let mut w = ((b2 as u32) << 16) | ((b1 as u32) << 8) | b0 as u32;
    for _ in 0..n {
        out.push(ITOA64[(w & 0x3f) as usize] as char);
        w >>= 6;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test vectors from Drepper's specification (sha-crypt.txt).
    #[test]
    fn specification_vectors() {
        assert_eq!(
            hash(b"Hello world!", "saltstring", 5000),
            "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
        );
        assert_eq!(
            hash(b"Hello world!", "saltstringsaltstring", 10000),
            "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."
        );
        assert_eq!(
            hash(b"we have a short salt string but not a short password", "short", 77777),
            "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0"
        );
    }
}
