//! Matrix products for training: `matrixmultiply`'s kernels, split across
//! threads by fixed blocks of output rows.
//!
//! Every element of a product is computed by the same kernel over the whole
//! inner dimension whatever the thread count, because the split is by output
//! rows in blocks of a fixed size ([`BLOCK`]): more threads only change who
//! computes a block, never how. So results do not depend on `threads`.

/// Rows of the output one thread takes at a time.
pub const BLOCK: usize = 32;

/// Below this many multiply-adds a product runs on the calling thread alone
/// (starting a thread costs more than it saves).
const THREAD_MIN_WORK: usize = 1 << 16;

/// A row-major or transposed view of a matrix in a flat slice.
#[derive(Debug, Clone, Copy)]
pub struct View<'a, T> {
    /// The elements.
    pub data: &'a [T],
    /// Rows of the viewed matrix.
    pub rows: usize,
    /// Columns of the viewed matrix.
    pub cols: usize,
    /// Whether `data` holds the matrix transposed (row-major `cols × rows`).
    pub transposed: bool,
}

impl<'a, T> View<'a, T> {
    /// `data` as a row-major `rows × cols` matrix.
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> View<'a, T> {
        debug_assert_eq!(data.len(), rows * cols);
        View {
            data,
            rows,
            cols,
            transposed: false,
        }
    }

    /// The transpose, without moving data.
    pub fn t(self) -> View<'a, T> {
        View {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            transposed: !self.transposed,
        }
    }

    /// Row and column strides of the viewed matrix.
    fn strides(&self) -> (isize, isize) {
        if self.transposed {
            (1, self.rows as isize)
        } else {
            (self.cols as isize, 1)
        }
    }
}

/// An element type with a GEMM kernel.
pub trait Scalar: Copy + Send + Sync + Default {
    /// `c = a·b` for the given strides (`matrixmultiply`'s calling convention, β = 0).
    ///
    /// # Safety
    /// The pointers and strides must describe matrices inside their allocations.
    #[allow(clippy::too_many_arguments)]
    unsafe fn kernel(
        m: usize,
        k: usize,
        n: usize,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

impl Scalar for f32 {
    unsafe fn kernel(
        m: usize,
        k: usize,
        n: usize,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        csb: isize,
        c: *mut f32,
        rsc: isize,
        csc: isize,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe { matrixmultiply::sgemm(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, 0.0, c, rsc, csc) }
    }
}

impl Scalar for f64 {
    unsafe fn kernel(
        m: usize,
        k: usize,
        n: usize,
        a: *const f64,
        rsa: isize,
        csa: isize,
        b: *const f64,
        rsb: isize,
        csb: isize,
        c: *mut f64,
        rsc: isize,
        csc: isize,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe { matrixmultiply::dgemm(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, 0.0, c, rsc, csc) }
    }
}

/// `a·b` as a row-major `a.rows × b.cols` matrix, on up to `threads` threads.
pub fn matmul<T: Scalar>(a: View<T>, b: View<T>, threads: usize) -> Vec<T> {
    assert_eq!(a.cols, b.rows, "inner dimensions agree");
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let mut c = vec![T::default(); m * n];
    if m == 0 || n == 0 {
        return c;
    }
    if k == 0 {
        return c;
    }
    let (rsa, csa) = a.strides();
    let (rsb, csb) = b.strides();
    let block = |r0: usize, out: &mut [T]| {
        let rows = out.len() / n;
        // SAFETY: rows r0..r0+rows of `a` and all of `b` lie inside their
        // slices (checked by the views' lengths), `out` is rows × n.
        unsafe {
            T::kernel(
                rows,
                k,
                n,
                a.data.as_ptr().offset(r0 as isize * rsa),
                rsa,
                csa,
                b.data.as_ptr(),
                rsb,
                csb,
                out.as_mut_ptr(),
                n as isize,
                1,
            )
        }
    };
    assert!(a.data.len() >= m * k && b.data.len() >= k * n);
    let chunks: Vec<(usize, &mut [T])> = c
        .chunks_mut(BLOCK * n)
        .enumerate()
        .map(|(i, s)| (i * BLOCK, s))
        .collect();
    let threads = threads.max(1).min(chunks.len());
    if threads == 1 || m * k * n < THREAD_MIN_WORK {
        for (r0, out) in chunks {
            block(r0, out);
        }
        return c;
    }
    // Deal the blocks round-robin; each thread runs its share in order.
    let mut shares: Vec<Vec<(usize, &mut [T])>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, ch) in chunks.into_iter().enumerate() {
        shares[i % threads].push(ch);
    }
    std::thread::scope(|s| {
        let mut shares = shares.into_iter();
        let mine = shares.next().expect("at least one share");
        for share in shares {
            s.spawn(move || {
                for (r0, out) in share {
                    block(r0, out);
                }
            });
        }
        for (r0, out) in mine {
            block(r0, out);
        }
    });
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn products_and_transposes_match_the_definition_on_any_thread_count() {
        let (m, k, n) = (70, 33, 45);
        let a: Vec<f64> = (0..m * k).map(|i| ((i * 7) % 13) as f64 - 6.0).collect();
        let b: Vec<f64> = (0..k * n).map(|i| ((i * 5) % 11) as f64 - 5.0).collect();
        let want = naive(&a, &b, m, k, n);
        for t in [1, 2, 3] {
            assert_eq!(matmul(View::new(&a, m, k), View::new(&b, k, n), t), want);
        }
        // (bᵀ aᵀ)ᵀ = a b, with the transposes as views.
        let bt: Vec<f64> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        let at: Vec<f64> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
        assert_eq!(
            matmul(View::new(&at, k, m).t(), View::new(&bt, n, k).t(), 2),
            want
        );
        let f: Vec<f32> = a.iter().map(|&x| x as f32 * 0.1).collect();
        let g: Vec<f32> = b.iter().map(|&x| x as f32 * 0.3).collect();
        let one = matmul(View::new(&f, m, k), View::new(&g, k, n), 1);
        let two = matmul(View::new(&f, m, k), View::new(&g, k, n), 2);
        assert_eq!(
            one.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            two.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }
}
