//! The balance rules, as pure functions over a list of candidate servers (indices into the
//! server list, all of them usable): each returns the order one client tries them in.
//!
//! - round-robin: nginx's smooth weighted round-robin picks the first (weights 5,1,1 give
//!   a a b a c a a, not a a a a a b c); the rest follow in list order after it.
//! - least-conn: fewest live pairs per unit of weight; ties keep a rotation.
//! - hash-source: weighted rendezvous hashing on the client's address. Each (client, server)
//!   pair gets a score; the client tries servers by falling score. A server that leaves moves
//!   only the clients whose first choice it was; the others keep their order.

use std::net::IpAddr;

/// One round of smooth weighted round-robin over `candidates` (`current` holds every server's
/// running weight): returns the position in `candidates` of the server picked.
pub fn smooth(current: &mut [i64], weight: impl Fn(usize) -> u32, candidates: &[usize]) -> usize {
    let mut best = 0;
    let mut total = 0i64;
    for (k, &i) in candidates.iter().enumerate() {
        let w = weight(i) as i64;
        current[i] += w;
        total += w;
        if current[i] > current[candidates[best]] {
            best = k;
        }
    }
    current[candidates[best]] -= total;
    best
}

/// Least live pairs per unit of weight first (a/wa < b/wb, compared as a*wb < b*wa); the sort
/// is stable, so ties keep the order given (a rotation).
pub fn least_conn(
    order: &mut [usize],
    active: impl Fn(usize) -> usize,
    weight: impl Fn(usize) -> u32,
) {
    order.sort_by(|&a, &b| {
        let (la, lb) = (active(a) as u128, active(b) as u128);
        (la * weight(b) as u128).cmp(&(lb * weight(a) as u128))
    });
}

/// Orders `candidates` by falling rendezvous score for `client`; `key(i)` is a stable hash of
/// server `i`'s address (the same on every host and after a restart).
pub fn rendezvous(
    client: IpAddr,
    order: &mut [usize],
    key: impl Fn(usize) -> u64,
    weight: impl Fn(usize) -> u32,
) {
    let c = hash(&ip_bytes(client));
    let score = |i: usize| {
        // u in (0, 1), uniform; w / -ln(u) is the weighted rendezvous score.
        let h = mix(c ^ key(i));
        let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        weight(i) as f64 / -u.ln()
    };
    order.sort_by(|&a, &b| score(b).total_cmp(&score(a)).then(a.cmp(&b)));
}

/// The bytes of an address as hashed: IPv4-mapped IPv6 counts as the IPv4 address.
fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// FNV-1a over `bytes`, then a finalizer: stable across builds and hosts (std's hasher is not
/// promised to be).
pub fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

/// splitmix64's finalizer: spreads every input bit over the output.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooth_weighted_round_robin_is_nginxs() {
        let w = [5u32, 1, 1];
        let mut cur = [0i64; 3];
        let picks: String = (0..7)
            .map(|_| b"abc"[smooth(&mut cur, |i| w[i], &[0, 1, 2])] as char)
            .collect();
        assert_eq!(picks, "aabacaa");
        // 3:1 over 400 picks is exactly 300:100.
        let w = [3u32, 1];
        let mut cur = [0i64; 2];
        let mut n = [0; 2];
        for _ in 0..400 {
            n[smooth(&mut cur, |i| w[i], &[0, 1])] += 1;
        }
        assert_eq!(n, [300, 100]);
        // Over a subset (server 1 down), only the others are picked.
        let w = [1u32, 1, 1];
        let mut cur = [0i64; 3];
        for _ in 0..10 {
            assert_ne!([0, 2][smooth(&mut cur, |i| w[i], &[0, 2])], 1);
        }
    }

    #[test]
    fn least_conn_divides_by_weight() {
        let active = [4usize, 3, 1];
        let weight = [4u32, 1, 1];
        let mut order = vec![0, 1, 2];
        least_conn(&mut order, |i| active[i], |i| weight[i]);
        assert_eq!(order, vec![0, 2, 1]); // 1.0, 1.0 (tie keeps order), 3.0
    }

    #[test]
    fn rendezvous_moves_only_the_clients_of_a_server_that_left() {
        let keys: Vec<u64> = (0..4)
            .map(|i| hash(format!("10.0.0.{i}:80").as_bytes()))
            .collect();
        let first = |client: IpAddr, servers: &[usize]| {
            let mut o = servers.to_vec();
            rendezvous(client, &mut o, |i| keys[i], |_| 1);
            o[0]
        };
        let clients: Vec<IpAddr> = (2..=200)
            .map(|i| {
                format!("127.0.{}.{}", i / 250, i % 250 + 1)
                    .parse()
                    .unwrap()
            })
            .collect();
        let before: Vec<usize> = clients.iter().map(|&c| first(c, &[0, 1, 2, 3])).collect();
        let mut per = [0; 4];
        for &b in &before {
            per[b] += 1;
        }
        assert!(per.iter().all(|&n| n > 25), "spread: {per:?}");
        let after: Vec<usize> = clients.iter().map(|&c| first(c, &[0, 1, 3])).collect();
        for (b, a) in before.iter().zip(&after) {
            if *b != 2 {
                assert_eq!(a, b, "a client of a server that stayed moved");
            } else {
                assert_ne!(*a, 2);
            }
        }
        // Stable: the same client, the same answer; mapped IPv6 is the IPv4 client.
        let c: IpAddr = "127.0.0.9".parse().unwrap();
        let m: IpAddr = "::ffff:127.0.0.9".parse().unwrap();
        assert_eq!(first(c, &[0, 1, 2, 3]), first(m, &[0, 1, 2, 3]));
    }

    #[test]
    fn rendezvous_follows_weights() {
        let keys: Vec<u64> = (0..2)
            .map(|i| hash(format!("10.0.0.{i}:80").as_bytes()))
            .collect();
        let w = [3u32, 1];
        let mut n = [0; 2];
        for i in 0..4000u32 {
            let c = IpAddr::from((0x0a00_0000 + i).to_be_bytes());
            let mut o = vec![0, 1];
            rendezvous(c, &mut o, |i| keys[i], |i| w[i]);
            n[o[0]] += 1;
        }
        assert!((2800..3200).contains(&n[0]), "{n:?}");
    }
}
