//! Unit tests of the graph builder: each misuse is refused with the op and
//! the problem named, a refused op leaves the builder unchanged, and what the
//! named methods build always validates.

use super::*;

fn builder() -> GraphBuilder {
    GraphBuilder::new("t", "t", DType::Int8)
}

/// The problem `result` was refused with, checking that it names `op`.
fn problem(result: Result<Tensor, BuildError>, op: &str) -> BuildProblem {
    let e = result.expect_err("the op is refused");
    assert_eq!((e.graph.as_str(), e.op.as_str()), ("t", op), "{e}");
    e.problem
}

#[test]
fn a_conv_of_a_non_nchw_tensor_is_refused_naming_the_op() {
    let mut b = builder();
    let x = b.input("x", &[1, 3, 8]);
    let e = b.conv2d("conv", &x, Conv::new(4, 3)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "graph \"t\", op \"conv\": input 0 has shape [1, 3, 8], but the op needs an NCHW tensor [batch, channels, height, width]"
    );
    assert!(b.ops().is_empty(), "a refused op adds nothing");
}

#[test]
fn conv_and_pool_attributes_are_checked() {
    let mut b = builder();
    let x = b.input("x", &[1, 6, 4, 4]);
    let p = problem(b.conv2d("c", &x, Conv::new(4, 3).groups(4)), "c");
    assert!(
        matches!(p, BuildProblem::Attribute { name: "groups", .. }),
        "{p}"
    );
    let p = problem(b.conv2d("c", &x, Conv::new(4, 7).padding(1)), "c");
    assert_eq!(
        p.to_string(),
        "kernel = 7 is invalid: expected at most the padded input size 6"
    );
    let p = problem(b.conv2d("c", &x, Conv::new(4, 3).stride(0)), "c");
    assert!(
        matches!(p, BuildProblem::Attribute { name: "stride", .. }),
        "{p}"
    );
    let p = problem(b.pool("p", &x, PoolFunc::Max, Window::new(0)), "p");
    assert!(
        matches!(p, BuildProblem::Attribute { name: "kernel", .. }),
        "{p}"
    );
    let h = b
        .conv2d("c", &x, Conv::new(6, 3).padding(1).groups(6))
        .unwrap();
    assert_eq!(h.shape, [1, 6, 4, 4]);
    let h = b.pool("p", &h, PoolFunc::Avg, Window::new(2)).unwrap();
    assert_eq!(h.shape, [1, 6, 2, 2]);
    b.finish().unwrap();
}

#[test]
fn a_view_that_changes_the_size_is_refused_where_it_is_read() {
    let mut b = builder();
    let x = b.input("x", &[2, 3, 4]);
    let y = b.eltwise("relu", EltFunc::Relu, &[&x], 0).unwrap();
    let p = problem(b.layer_norm("ln", &y.view(&[6, 5])), "ln");
    assert_eq!(
        p,
        BuildProblem::ViewSize {
            input: 0,
            shape: vec![6, 5],
            source_shape: vec![2, 3, 4],
        }
    );
    assert!(
        p.to_string()
            .contains("a view keeps the number of elements")
    );
    b.layer_norm("ln", &y.view(&[6, 4])).unwrap();
    b.finish().unwrap();
}

#[test]
fn mismatched_shapes_are_refused() {
    let mut b = builder();
    let x = b.input("x", &[2, 8]);
    let y = b.input("y", &[3, 8]);
    let p = problem(b.eltwise("add", EltFunc::Add, &[&x, &y], 0), "add");
    assert!(matches!(p, BuildProblem::Broadcast { input: 1, .. }), "{p}");
    let p = problem(b.matmul("mm", &x, &y, (1, 2, 8, 4)), "mm");
    assert_eq!(
        p,
        BuildProblem::Elements {
            input: 1,
            shape: vec![3, 8],
            expected: 32,
        }
    );
    // [3, 8] read as an 8 × 3 matrix is fine: the op's dims say how.
    b.matmul("mm", &x, &y, (1, 2, 8, 3)).unwrap();
    let p = problem(b.concat("cat", &[&x, &y], 0, vec![5, 9], 0), "cat");
    assert!(
        matches!(p, BuildProblem::ConcatShape { input: 0, .. }),
        "{p}"
    );
    let p = problem(b.concat("cat", &[&x, &y], 0, vec![6, 8], 0), "cat");
    assert!(matches!(p, BuildProblem::OutputShape { .. }), "{p}");
    b.concat("cat", &[&x, &y], 0, vec![5, 8], 0).unwrap();
    // Broadcasting follows numpy: [2, 1] with [8] gives [2, 8].
    let col = b.input("col", &[2, 1]);
    let row = b.input("row", &[8]);
    let s = b.eltwise("sum", EltFunc::Add, &[&row, &col], 0).unwrap();
    assert_eq!(s.shape, [2, 8]);
    b.finish().unwrap();
}

#[test]
fn ranks_axes_and_permutations_are_checked() {
    let mut b = builder();
    let x = b.input("x", &[2, 3]);
    let p = problem(b.first_token("cls", &x), "cls");
    assert!(matches!(p, BuildProblem::Rank { .. }), "{p}");
    let p = problem(b.global_avg_pool("gap", &x), "gap");
    assert!(matches!(p, BuildProblem::Rank { .. }), "{p}");
    let p = problem(b.transpose("t", &x, &[0, 0]), "t");
    assert!(
        matches!(p, BuildProblem::Attribute { name: "perm", .. }),
        "{p}"
    );
    let p = problem(b.reduce("r", &x, ReduceFunc::Sum, &[2], false), "r");
    assert!(
        matches!(p, BuildProblem::Attribute { name: "axes", .. }),
        "{p}"
    );
    let p = problem(b.slice("s", &x, 1, 2, 2), "s");
    assert!(
        matches!(p, BuildProblem::Attribute { name: "start", .. }),
        "{p}"
    );
    let p = problem(b.reshape("re", &x, &[4, 2]), "re");
    assert!(matches!(p, BuildProblem::OutputShape { .. }), "{p}");
    let p = problem(b.broadcast("bc", &x, &[2, 4]), "bc");
    assert!(matches!(p, BuildProblem::Broadcast { .. }), "{p}");
    let flat = b.input("flat", &[6]);
    let p = problem(b.flatten_linear("fc", &flat, 2, true), "fc");
    assert!(matches!(p, BuildProblem::Rank { .. }), "{p}");
    let p = problem(b.batch_norm("bn", &flat), "bn");
    assert!(matches!(p, BuildProblem::Rank { .. }), "{p}");
}

#[test]
fn names_sources_and_shapes_are_checked() {
    let mut b = builder();
    let x = b.input("x", &[2, 3]);
    b.linear("fc", &x, 4, false).unwrap();
    let p = problem(b.linear("fc", &x, 4, false), "fc");
    assert_eq!(p, BuildProblem::DuplicateName { first: OpId(0) });
    let p = problem(b.eltwise("e", EltFunc::Add, &[], 0), "e");
    assert_eq!(p, BuildProblem::NoInputs);
    let mut other = builder();
    let elsewhere = other.input("y", &[2, 3]);
    let elsewhere = other.softmax("s", &elsewhere).unwrap();
    let elsewhere = other.softmax("s2", &elsewhere).unwrap();
    let p = problem(b.softmax("s", &elsewhere), "s");
    assert!(
        matches!(p, BuildProblem::UnknownSource { input: 0, .. }),
        "{p}"
    );
    let zero = b.input("zero", &[2, 0]);
    let p = problem(b.softmax("s", &zero), "s");
    assert!(matches!(p, BuildProblem::BadShape { .. }), "{p}");
    let p = problem(b.linear("fc2", &x, 0, false), "fc2");
    assert!(
        matches!(p, BuildProblem::Attribute { name: "n", .. }),
        "{p}"
    );
    // The unread input with a zero dimension is left for `finish`.
    let e = b.finish().unwrap_err();
    assert!(e.to_string().contains("no zero dimension"), "{e}");
}

#[test]
fn counts_that_overflow_are_refused() {
    let mut b = builder();
    let x = b.input("x", &[1 << 32, 1 << 31]);
    let p = problem(b.linear("fc", &x, 1 << 33, false), "fc");
    assert!(matches!(p, BuildProblem::Overflow { .. }), "{p}");
    let p = problem(b.layer_norm("ln", &x), "ln");
    assert_eq!(
        p,
        BuildProblem::Overflow {
            what: "vector operations"
        }
    );
    let huge = b.input("huge", &[u64::MAX, 2]);
    let p = problem(b.softmax("s", &huge), "s");
    assert!(matches!(p, BuildProblem::BadShape { .. }), "{p}");
}
