//! A deterministic maximum-flow solver (Dinic's algorithm) on `f64`
//! capacities, with `f64::INFINITY` for arcs that may never be cut, and the
//! source side of a minimum cut.
//!
//! Determinism: arcs are stored in insertion order (compressed sparse rows
//! built by a stable counting sort), breadth-first and depth-first searches
//! visit them in that order, so the same network always yields the same flow
//! and the same cut. The cut returned is the set of nodes reachable from the
//! source in the final residual network, which is the *smallest* source side
//! among all minimum cuts (Picard and Queyranne, 1980); the labelling read from
//! it is therefore the pointwise smallest optimal one.

/// A flow network under construction; nodes are `0 .. n`.
pub(crate) struct Network {
    n: usize,
    /// (from, to, capacity) in insertion order.
    arcs: Vec<(u32, u32, f64)>,
}

impl Network {
    pub(crate) fn new(n: usize) -> Network {
        Network {
            n,
            arcs: Vec::new(),
        }
    }

    /// Adds an arc of capacity `cap` (≥ 0, possibly infinite).
    pub(crate) fn add(&mut self, from: usize, to: usize, cap: f64) {
        debug_assert!(cap >= 0.0, "negative capacity {cap}");
        if from != to && cap > 0.0 {
            self.arcs.push((from as u32, to as u32, cap));
        }
    }

    /// Runs Dinic's algorithm from `s` to `t` and returns the flow value and
    /// the source side of a minimum cut (`true` = reachable from `s`).
    /// Residual capacities at or below `eps` count as saturated; `eps` absorbs
    /// the rounding of real-valued capacities (integral ones use `eps = 0.5`,
    /// which is exact). The flow is infinite only if an uncuttable path joins
    /// `s` to `t`; callers rule that out beforehand.
    pub(crate) fn min_cut(self, s: usize, t: usize, eps: f64) -> (f64, Vec<bool>) {
        let n = self.n;
        // Residual arcs in pairs: 2a is the forward arc, 2a+1 its reverse.
        let m = self.arcs.len() * 2;
        let mut to = vec![0u32; m];
        let mut cap = vec![0f64; m];
        let mut degree = vec![0u32; n + 1];
        for (a, &(u, v, c)) in self.arcs.iter().enumerate() {
            to[2 * a] = v;
            cap[2 * a] = c;
            to[2 * a + 1] = u;
            degree[u as usize + 1] += 1;
            degree[v as usize + 1] += 1;
        }
        // start[v] .. start[v+1] indexes `order`, the arcs leaving v.
        let mut start = degree;
        for v in 0..n {
            start[v + 1] += start[v];
        }
        let mut fill = start.clone();
        let mut order = vec![0u32; m];
        for a in 0..m {
            let tail = to[a ^ 1] as usize;
            order[fill[tail] as usize] = a as u32;
            fill[tail] += 1;
        }

        let mut level = vec![u32::MAX; n];
        let mut next = vec![0u32; n];
        let mut queue = Vec::with_capacity(n);
        let mut path: Vec<u32> = Vec::new();
        let mut total = 0.0;
        loop {
            // Breadth-first levels over arcs with residual capacity.
            level.fill(u32::MAX);
            level[s] = 0;
            queue.clear();
            queue.push(s as u32);
            let mut head = 0;
            while head < queue.len() {
                let v = queue[head] as usize;
                head += 1;
                for &a in &order[start[v] as usize..start[v + 1] as usize] {
                    let w = to[a as usize] as usize;
                    if cap[a as usize] > eps && level[w] == u32::MAX {
                        level[w] = level[v] + 1;
                        queue.push(w as u32);
                    }
                }
            }
            if level[t] == u32::MAX {
                break;
            }
            // Blocking flow by iterative depth-first search along levels.
            next.copy_from_slice(&start[..n]);
            path.clear();
            let mut v = s;
            loop {
                if v == t {
                    let f = path
                        .iter()
                        .map(|&a| cap[a as usize])
                        .fold(f64::INFINITY, f64::min);
                    if f == f64::INFINITY {
                        return (f64::INFINITY, Vec::new());
                    }
                    total += f;
                    let mut cut_at = path.len();
                    for (i, &a) in path.iter().enumerate() {
                        cap[a as usize] -= f;
                        cap[a as usize ^ 1] += f;
                        if cut_at == path.len() && cap[a as usize] <= eps {
                            cut_at = i;
                        }
                    }
                    // Resume from the tail of the first saturated arc.
                    path.truncate(cut_at);
                    v = path.last().map_or(s, |&a| to[a as usize] as usize);
                    continue;
                }
                let end = start[v + 1];
                let mut advanced = false;
                while next[v] < end {
                    let a = order[next[v] as usize] as usize;
                    let w = to[a] as usize;
                    if cap[a] > eps && level[w] == level[v] + 1 {
                        path.push(a as u32);
                        v = w;
                        advanced = true;
                        break;
                    }
                    next[v] += 1;
                }
                if !advanced {
                    if v == s {
                        break;
                    }
                    // Dead end: retire v for this phase and retreat.
                    level[v] = u32::MAX;
                    let a = path.pop().expect("a non-source node is reached by an arc") as usize;
                    v = to[a ^ 1] as usize;
                    next[v] += 1;
                }
            }
        }
        // The final breadth-first search reached exactly the source side.
        let side = level.iter().map(|&l| l != u32::MAX).collect();
        (total, side)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_flow_of_the_textbook_network_is_23() {
        // CLRS figure 26.1.
        let mut g = Network::new(6);
        for (u, v, c) in [
            (0, 1, 16.0),
            (0, 2, 13.0),
            (1, 3, 12.0),
            (2, 1, 4.0),
            (2, 4, 14.0),
            (3, 2, 9.0),
            (3, 5, 20.0),
            (4, 3, 7.0),
            (4, 5, 4.0),
        ] {
            g.add(u, v, c);
        }
        let (flow, side) = g.min_cut(0, 5, 0.5);
        assert_eq!(flow, 23.0);
        assert_eq!(side, vec![true, true, true, false, true, false]);
    }

    #[test]
    fn infinite_arcs_are_never_cut() {
        let mut g = Network::new(4);
        g.add(0, 1, 5.0);
        g.add(1, 2, f64::INFINITY);
        g.add(2, 3, 2.0);
        g.add(0, 2, 1.0);
        let (flow, side) = g.min_cut(0, 3, 0.5);
        assert_eq!(flow, 2.0);
        assert_eq!(side, vec![true, true, true, false]);
    }

    #[test]
    fn an_uncuttable_path_gives_infinite_flow() {
        let mut g = Network::new(3);
        g.add(0, 1, f64::INFINITY);
        g.add(1, 2, f64::INFINITY);
        assert_eq!(g.min_cut(0, 2, 0.5).0, f64::INFINITY);
    }
}
