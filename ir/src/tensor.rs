//! Weight matrices, dense or sparse.

use crate::types::WeightKind;

/// A weight matrix `[rows × cols]` (`rows` = output units, `cols` = inputs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Weights {
    /// Every entry stored, row-major.
    Dense(DenseWeights),
    /// Only non-zero entries stored, row by row.
    Sparse(SparseWeights),
}

/// A dense weight matrix, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenseWeights {
    /// The values the entries may take.
    pub kind: WeightKind,
    /// Number of rows (output units).
    pub rows: usize,
    /// Number of columns (inputs).
    pub cols: usize,
    /// `rows * cols` entries, row-major.
    pub data: Vec<i8>,
}

/// A sparse weight matrix: for every row, its non-zero entries as `(column, value)`,
/// columns strictly ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparseWeights {
    /// The values the entries may take.
    pub kind: WeightKind,
    /// Number of columns (inputs).
    pub cols: usize,
    /// One list per row (output unit).
    pub rows: Vec<Vec<(u32, i8)>>,
}

impl DenseWeights {
    /// Entry at `(r, c)`.
    pub fn get(&self, r: usize, c: usize) -> i8 {
        self.data[r * self.cols + c]
    }

    /// Row `r` as a slice.
    pub fn row(&self, r: usize) -> &[i8] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    /// The same matrix keeping only non-zero entries.
    pub fn to_sparse(&self) -> SparseWeights {
        let rows = (0..self.rows)
            .map(|r| {
                self.row(r)
                    .iter()
                    .enumerate()
                    .filter(|(_, &w)| w != 0)
                    .map(|(c, &w)| (c as u32, w))
                    .collect()
            })
            .collect();
        SparseWeights {
            kind: self.kind,
            cols: self.cols,
            rows,
        }
    }
}

impl SparseWeights {
    /// Number of stored (non-zero) entries.
    pub fn nnz(&self) -> usize {
        self.rows.iter().map(Vec::len).sum()
    }
}

impl Weights {
    /// The values the entries may take.
    pub fn kind(&self) -> WeightKind {
        match self {
            Weights::Dense(d) => d.kind,
            Weights::Sparse(s) => s.kind,
        }
    }

    /// Number of rows (output units).
    pub fn rows(&self) -> usize {
        match self {
            Weights::Dense(d) => d.rows,
            Weights::Sparse(s) => s.rows.len(),
        }
    }

    /// Number of columns (inputs).
    pub fn cols(&self) -> usize {
        match self {
            Weights::Dense(d) => d.cols,
            Weights::Sparse(s) => s.cols,
        }
    }

    /// Whether row `r` has no non-zero entry.
    pub fn row_is_zero(&self, r: usize) -> bool {
        match self {
            Weights::Dense(d) => d.row(r).iter().all(|&w| w == 0),
            Weights::Sparse(s) => s.rows[r].is_empty(),
        }
    }

    /// The non-zero entries of row `r` as `(column, value)`, columns ascending.
    pub fn row_entries(&self, r: usize) -> Vec<(u32, i8)> {
        match self {
            Weights::Dense(d) => d
                .row(r)
                .iter()
                .enumerate()
                .filter(|(_, &w)| w != 0)
                .map(|(c, &w)| (c as u32, w))
                .collect(),
            Weights::Sparse(s) => s.rows[r].clone(),
        }
    }

    /// Entry at `(r, c)`.
    pub fn get(&self, r: usize, c: usize) -> i8 {
        match self {
            Weights::Dense(d) => d.get(r, c),
            Weights::Sparse(s) => s.rows[r]
                .binary_search_by_key(&(c as u32), |e| e.0)
                .map(|i| s.rows[r][i].1)
                .unwrap_or(0),
        }
    }

    /// Number of non-zero entries.
    pub fn nnz(&self) -> usize {
        match self {
            Weights::Dense(d) => d.data.iter().filter(|&&w| w != 0).count(),
            Weights::Sparse(s) => s.nnz(),
        }
    }

    /// Remove row `r`.
    pub fn remove_row(&mut self, r: usize) {
        match self {
            Weights::Dense(d) => {
                d.data.drain(r * d.cols..(r + 1) * d.cols);
                d.rows -= 1;
            }
            Weights::Sparse(s) => {
                s.rows.remove(r);
            }
        }
    }

    /// Remove column `c`, renumbering the columns after it.
    pub fn remove_col(&mut self, c: usize) {
        match self {
            Weights::Dense(d) => {
                let cols = d.cols;
                d.data = d
                    .data
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % cols != c)
                    .map(|(_, &w)| w)
                    .collect();
                d.cols -= 1;
            }
            Weights::Sparse(s) => {
                let c = c as u32;
                for row in &mut s.rows {
                    row.retain(|e| e.0 != c);
                    for e in row.iter_mut() {
                        if e.0 > c {
                            e.0 -= 1;
                        }
                    }
                }
                s.cols -= 1;
            }
        }
    }
}
