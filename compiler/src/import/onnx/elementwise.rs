//! Elementwise functions of the network's vector, as exporters spell
//! activations: one op (`Tanh`, `Clip`, `HardSwish`), or a few that compute
//! one (GELU as `x·½·(1 + erf(x/√2))`, Keras's hard sigmoid as
//! `relu6(x + 3)/6`, ReLU6 as `Min(Max(x, 0), 6)`).
//!
//! The graph walk records such a function as an [`Expr`] of the value it
//! applies to; [`steps`] turns it into affine maps (which fold into the
//! layers) around one [`FloatActivation`] each, or says it is none it knows.

use crate::quant::float_model::FloatActivation;

/// A scalar function of one variable, applied to every element alike.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// The value the function applies to.
    Var,
    /// A constant.
    Num(f64),
    /// An activation of the inner function.
    Apply(FloatActivation, Box<Expr>),
    /// The error function (GELU's building block).
    Erf(Box<Expr>),
    /// Two functions combined.
    Bin(BinOp, Box<Expr>, Box<Expr>),
}

/// A binary elementwise op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `a + b`.
    Add,
    /// `a − b`.
    Sub,
    /// `a · b`.
    Mul,
    /// `a / b`.
    Div,
    /// `a ^ b`.
    Pow,
    /// The larger.
    Max,
    /// The smaller.
    Min,
}

/// One step of computing a recognised function: what the chain applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// `y = mul·x + add`.
    Affine {
        /// Factor.
        mul: f64,
        /// Offset.
        add: f64,
    },
    /// An activation.
    Activate(FloatActivation),
}

impl Expr {
    /// `op(a, b)`.
    pub fn bin(op: BinOp, a: Expr, b: Expr) -> Expr {
        Expr::Bin(op, Box::new(a), Box::new(b))
    }

    /// The function's value at `z`.
    pub fn eval(&self, z: f64) -> f64 {
        match self {
            Expr::Var => z,
            Expr::Num(c) => *c,
            Expr::Apply(a, e) => apply(*a, e.eval(z)),
            Expr::Erf(e) => libm::erf(e.eval(z)),
            Expr::Bin(op, a, b) => {
                let (a, b) = (a.eval(z), b.eval(z));
                match op {
                    BinOp::Add => a + b,
                    BinOp::Sub => a - b,
                    BinOp::Mul => a * b,
                    BinOp::Div => a / b,
                    BinOp::Pow => a.powf(b),
                    BinOp::Max => a.max(b),
                    BinOp::Min => a.min(b),
                }
            }
        }
    }

    fn uses_of_var(&self) -> usize {
        match self {
            Expr::Var => 1,
            Expr::Num(_) => 0,
            Expr::Apply(_, e) | Expr::Erf(e) => e.uses_of_var(),
            Expr::Bin(_, a, b) => a.uses_of_var() + b.uses_of_var(),
        }
    }
}

/// An activation in f64 (`FloatActivation::apply` rounds to f32).
fn apply(a: FloatActivation, x: f64) -> f64 {
    match a {
        FloatActivation::Tanh => x.tanh(),
        FloatActivation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        FloatActivation::Gelu { tanh: false } => 0.5 * x * (1.0 + libm::erf(x / 2f64.sqrt())),
        _ => a.apply(x as f32) as f64,
    }
}

/// Activations that exporters also write as several ops, each a fixed function.
const COMPOSITE: [FloatActivation; 5] = [
    FloatActivation::Gelu { tanh: false },
    FloatActivation::Gelu { tanh: true },
    FloatActivation::HardSwish,
    FloatActivation::Sigmoid,
    FloatActivation::Tanh,
];

/// Whether `e` computes `a` (to f32 precision, as the graph's constants are)
/// over the range where activations differ.
fn computes(e: &Expr, a: FloatActivation) -> bool {
    (-400..=400).all(|i| {
        let z = f64::from(i) / 40.0;
        let (got, want) = (e.eval(z), apply(a, z));
        (got - want).abs() <= 1e-5 * (1.0 + want.abs())
    })
}

/// `e` as `mul·z + add`, when it is that.
fn affine(e: &Expr) -> Option<(f64, f64)> {
    let add = e.eval(0.0);
    let mul = e.eval(1.0) - add;
    let linear = (-400..=400).all(|i| {
        let z = f64::from(i) / 40.0;
        let want = mul * z + add;
        (e.eval(z) - want).abs() <= 1e-9 * (1.0 + want.abs())
    });
    linear.then_some((mul, add))
}

/// `e` as `mul·core + add` with `core` not an affine map of anything.
fn peel(e: &Expr) -> (f64, f64, &Expr) {
    let Expr::Bin(op, a, b) = e else {
        return (1.0, 0.0, e);
    };
    match (op, &**a, &**b) {
        (BinOp::Add, x, Expr::Num(c)) | (BinOp::Add, Expr::Num(c), x) => {
            let (m, k, core) = peel(x);
            (m, k + c, core)
        }
        (BinOp::Sub, x, Expr::Num(c)) => {
            let (m, k, core) = peel(x);
            (m, k - c, core)
        }
        (BinOp::Sub, Expr::Num(c), x) => {
            let (m, k, core) = peel(x);
            (-m, c - k, core)
        }
        (BinOp::Mul, x, Expr::Num(c)) | (BinOp::Mul, Expr::Num(c), x) => {
            let (m, k, core) = peel(x);
            (m * c, k * c, core)
        }
        (BinOp::Div, x, Expr::Num(c)) if *c != 0.0 => {
            let (m, k, core) = peel(x);
            (m / c, k / c, core)
        }
        _ => (1.0, 0.0, e),
    }
}

/// `steps` plus `mul·y + add` (left out when it is the identity).
fn then_affine(mut s: Vec<Step>, mul: f64, add: f64) -> Vec<Step> {
    if mul != 1.0 || add != 0.0 {
        s.push(Step::Affine { mul, add });
    }
    s
}

/// The steps that compute `e` from its variable, first to last, or `None`
/// when `e` is no composition of affine maps and known activations.
pub fn steps(e: &Expr) -> Option<Vec<Step>> {
    let (mul, add, core) = peel(e);
    if e.uses_of_var() > 1 {
        // A function of its input in several places (GELU, hard swish):
        // recognised by its values, whole or within an affine map.
        for (core, mul, add) in [(e, 1.0, 0.0), (core, mul, add)] {
            if let Some(&a) = COMPOSITE.iter().find(|&&a| computes(core, a)) {
                return Some(then_affine(vec![Step::Activate(a)], mul, add));
            }
        }
        // Or no activation at all (`x + x`).
        return affine(e).map(|(mul, add)| then_affine(vec![], mul, add));
    }
    let inner = |x: &Expr, act: FloatActivation, pre: (f64, f64), post: (f64, f64)| {
        let mut s = then_affine(steps(x)?, pre.0, pre.1);
        s.push(Step::Activate(act));
        Some(then_affine(then_affine(s, post.0, post.1), mul, add))
    };
    let clip = |min: f64, max: f64| FloatActivation::Clip {
        min: min as f32,
        max: max as f32,
    };
    match core {
        Expr::Var => Some(then_affine(vec![], mul, add)),
        Expr::Apply(a, x) => inner(x, *a, (1.0, 0.0), (1.0, 0.0)),
        Expr::Bin(BinOp::Max, x, c) | Expr::Bin(BinOp::Max, c, x) if is_num(c) => {
            let lo = num(c);
            match bounded(x, BinOp::Min) {
                // Min(Max(x, lo), hi) in either order is a clip.
                Some((y, hi)) if lo <= hi => inner(y, clip(lo, hi), (1.0, 0.0), (1.0, 0.0)),
                // max(x, c) = relu(x − c) + c
                _ => inner(x, FloatActivation::Relu, (1.0, -lo), (1.0, lo)),
            }
        }
        Expr::Bin(BinOp::Min, x, c) | Expr::Bin(BinOp::Min, c, x) if is_num(c) => {
            let hi = num(c);
            match (bounded(x, BinOp::Max), &**x) {
                (Some((y, lo)), _) if lo <= hi => inner(y, clip(lo, hi), (1.0, 0.0), (1.0, 0.0)),
                // Min(Relu(x), hi) is a clip to [0, hi] too.
                (_, Expr::Apply(FloatActivation::Relu, y)) if hi >= 0.0 => {
                    inner(y, clip(0.0, hi), (1.0, 0.0), (1.0, 0.0))
                }
                // min(x, c) = c − relu(c − x)
                _ => inner(x, FloatActivation::Relu, (-1.0, hi), (-1.0, hi)),
            }
        }
        _ => None,
    }
}

fn is_num(e: &Expr) -> bool {
    matches!(e, Expr::Num(_))
}

fn num(e: &Expr) -> f64 {
    match e {
        Expr::Num(c) => *c,
        _ => 0.0,
    }
}

/// `e` as `op(y, c)` for a constant `c`.
fn bounded(e: &Expr, op: BinOp) -> Option<(&Expr, f64)> {
    match e {
        Expr::Bin(o, y, c) | Expr::Bin(o, c, y) if *o == op && is_num(c) => Some((y, num(c))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var() -> Expr {
        Expr::Var
    }

    fn n(c: f64) -> Expr {
        Expr::Num(c)
    }

    #[test]
    fn gelu_as_pytorch_decomposes_it_is_gelu() {
        // Mul(Mul(x, Add(Erf(Div(x, √2)), 1)), 0.5)
        let erf = Expr::Erf(Box::new(Expr::bin(BinOp::Div, var(), n(2f64.sqrt()))));
        let e = Expr::bin(
            BinOp::Mul,
            Expr::bin(BinOp::Mul, var(), Expr::bin(BinOp::Add, erf, n(1.0))),
            n(0.5),
        );
        assert_eq!(
            steps(&e),
            Some(vec![Step::Activate(FloatActivation::Gelu { tanh: false })])
        );
    }

    #[test]
    fn gelu_tanh_approximation_is_told_from_the_exact_one() {
        // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
        let inner = Expr::bin(
            BinOp::Add,
            var(),
            Expr::bin(
                BinOp::Mul,
                n(0.044715),
                Expr::bin(BinOp::Pow, var(), n(3.0)),
            ),
        );
        let t = Expr::Apply(
            FloatActivation::Tanh,
            Box::new(Expr::bin(BinOp::Mul, n(0.797_884_56), inner)),
        );
        let e = Expr::bin(
            BinOp::Mul,
            Expr::bin(BinOp::Mul, n(0.5), var()),
            Expr::bin(BinOp::Add, n(1.0), t),
        );
        assert_eq!(
            steps(&e),
            Some(vec![Step::Activate(FloatActivation::Gelu { tanh: true })])
        );
    }

    #[test]
    fn keras_hard_sigmoid_is_relu6_between_affine_maps() {
        // relu6(x + 3) / 6 with relu6 as Min(Max(·, 0), 6)
        let x3 = Expr::bin(BinOp::Add, var(), n(3.0));
        let relu6 = Expr::bin(BinOp::Min, Expr::bin(BinOp::Max, x3, n(0.0)), n(6.0));
        let e = Expr::bin(BinOp::Div, relu6, n(6.0));
        let s = steps(&e).unwrap();
        assert_eq!(
            s,
            vec![
                Step::Affine { mul: 1.0, add: 3.0 },
                Step::Activate(FloatActivation::Clip { min: 0.0, max: 6.0 }),
                Step::Affine {
                    mul: 1.0 / 6.0,
                    add: 0.0
                },
            ]
        );
    }

    #[test]
    fn relu_then_min_is_relu6() {
        let relu = Expr::Apply(FloatActivation::Relu, Box::new(var()));
        assert_eq!(
            steps(&Expr::bin(BinOp::Min, n(6.0), relu)),
            Some(vec![Step::Activate(FloatActivation::Clip {
                min: 0.0,
                max: 6.0
            })])
        );
    }

    #[test]
    fn max_and_min_with_one_constant_are_shifted_relus() {
        let e = Expr::bin(BinOp::Min, var(), n(2.0));
        let s = steps(&e).unwrap();
        let run = |z: f64| {
            s.iter().fold(z, |v, st| match *st {
                Step::Affine { mul, add } => mul * v + add,
                Step::Activate(a) => apply(a, v),
            })
        };
        for z in [-3.0, 1.5, 2.0, 7.0] {
            assert_eq!(run(z), z.min(2.0));
        }
    }

    #[test]
    fn silu_and_squares_are_not_recognised() {
        let sig = Expr::Apply(FloatActivation::Sigmoid, Box::new(var()));
        assert_eq!(steps(&Expr::bin(BinOp::Mul, var(), sig)), None);
        assert_eq!(steps(&Expr::bin(BinOp::Mul, var(), var())), None);
        assert_eq!(
            steps(&Expr::bin(BinOp::Add, var(), var())),
            Some(vec![Step::Affine { mul: 2.0, add: 0.0 }])
        );
        assert_eq!(steps(&Expr::Erf(Box::new(var()))), None);
    }
}
