//! The column records' bytes: how layer 1's query columns are stored (nibble
//! lists, read once per reply) and how every other record is packed into the
//! program (`blob`) for `model_init` to unpack in place.

use super::plan::Split;
use crate::columns::{gap_nibbles, pack_nibbles, unit_lists, Escape};
use crate::layers::Layer;

/// One column's weights: (row, value) pairs.
type Column = Vec<(usize, i8)>;

/// Row gaps as nibbles (15 = move on 15 rows without adding).
pub fn gaps(rows: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    gap_nibbles(rows, Escape::Z80, &mut out);
    out
}

/// A query column's record: its two lists' gap counts, then the packed gaps.
pub fn query_record(col: &[(usize, i8)]) -> Vec<u8> {
    let (plus, minus) = unit_lists(col);
    let (np, nm) = (gaps(&plus), gaps(&minus));
    let mut bytes = vec![np.len() as u8, nm.len() as u8];
    bytes.extend(pack_nibbles(&np));
    bytes.extend(pack_nibbles(&nm));
    bytes
}

/// Bytes an unpacked list takes: odd lengths lead with a junk byte the entry skips.
fn list_len(rows: &[usize]) -> usize {
    rows.len() + rows.len() % 2
}

/// The columns whose records go to the packed blob, per layer: (first table
/// slot's column, columns).
pub fn record_parts<'a>(
    layers: &'a [Layer],
    split: Option<&Split>,
) -> Vec<(usize, Vec<&'a Column>)> {
    layers
        .iter()
        .enumerate()
        .map(|(k, l)| match (k, split) {
            (0, Some(sp)) => (
                sp.context.start,
                l.columns[sp.context.clone()].iter().collect(),
            ),
            _ => (0, l.columns.iter().collect()),
        })
        .collect()
}

/// The column records, packed: what `model_init` unpacks in place.
#[derive(Debug, Clone)]
pub struct Blob {
    /// The packed bytes.
    pub bytes: Vec<u8>,
    /// Unpacked length: the records in RAM from `zblob` on.
    pub unpacked: usize,
    /// How far above `zblob` the packed bytes move before unpacking, so the
    /// records written never reach bytes not yet read.
    pub slack: usize,
}

/// Pack every record: `db n_plus, n_minus` and each list's row gaps as
/// nibbles (see [`gaps`]), each list padded to a whole byte.
pub fn blob(layers: &[Layer], split: Option<&Split>) -> Blob {
    let mut bytes = Vec::new();
    let (mut out, mut slack) = (0usize, 0usize);
    for (_, cols) in record_parts(layers, split) {
        for c in cols {
            let (plus, minus) = unit_lists(c);
            let start = bytes.len();
            bytes.push(plus.len() as u8);
            bytes.push(minus.len() as u8);
            bytes.extend(pack_nibbles(&gaps(&plus)));
            bytes.extend(pack_nibbles(&gaps(&minus)));
            out += 6 + list_len(&plus) + list_len(&minus);
            slack = slack.max(out.saturating_sub(start));
        }
    }
    Blob {
        bytes,
        unpacked: out,
        slack,
    }
}
