//! How the Z80 backend codes a layer's weights: as column records (a
//! column's coded weights), kept in one of three ways (see [`Coding`]):
//! ready for the scatter loops, packed into the program (`blob`) for
//! `model_init` to unpack in place, or nibble-coded and read while scattering
//! (as layer 1's query columns, read once per reply, always are).
//!
//! A column's rows are split into segments (see [`segments`]): one per page of
//! 256 accumulator rows, and more where a list would grow past what a byte
//! counts. Most models have one segment per column, and then their records
//! carry no segment kinds.

use std::ops::Range;

use super::plan::Split;
use crate::columns::{gap_nibbles, pack_nibbles, unit_lists, Escape};
use crate::lowered::FusedLayer;

/// One column's weights: (row, value) pairs.
type Column = Vec<(usize, i8)>;

/// Most entries of one sign in a segment: the counts are bytes, and a list's
/// nibble gaps (entries plus at most 17 escapes within a page) must stay
/// below 256 too.
const SEGMENT_ENTRIES: usize = 230;

/// What follows a segment of a column's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Nothing: the column is done.
    Last = 0,
    /// Another segment on the same accumulator page.
    Same = 1,
    /// Another segment on the next accumulator page (256 rows on).
    Page = 2,
}

/// A piece of a column: its +1 and −1 rows (page-relative, a row repeated
/// |w| times) and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Rows that add x.
    pub plus: Vec<usize>,
    /// Rows that subtract x.
    pub minus: Vec<usize>,
    /// What follows.
    pub next: Next,
}

/// A column of a layer with `rows` rows as segments: one per page of 256
/// rows (even if empty, so the pages follow one another), split further
/// where a list would pass [`SEGMENT_ENTRIES`].
pub fn segments(col: &[(usize, i8)], rows: usize) -> Vec<Segment> {
    let pages = rows.div_ceil(256).max(1);
    let mut out = Vec::new();
    for page in 0..pages {
        let mut seg = Segment {
            plus: Vec::new(),
            minus: Vec::new(),
            next: Next::Page,
        };
        for &(r, w) in col.iter().filter(|(r, _)| r / 256 == page) {
            let n = usize::from(w.unsigned_abs());
            let list_len = if w > 0 {
                seg.plus.len()
            } else {
                seg.minus.len()
            };
            if list_len + n > SEGMENT_ENTRIES {
                seg.next = Next::Same;
                out.push(std::mem::replace(
                    &mut seg,
                    Segment {
                        plus: Vec::new(),
                        minus: Vec::new(),
                        next: Next::Page,
                    },
                ));
            }
            let list = if w > 0 { &mut seg.plus } else { &mut seg.minus };
            list.extend(std::iter::repeat_n(r % 256, n));
        }
        out.push(seg);
    }
    if let Some(last) = out.last_mut() {
        last.next = Next::Last;
    }
    out
}

/// Whether any column of `layers` needs more than one segment: then every
/// record says what follows each of its segments.
pub fn multi_segment(layers: &[FusedLayer]) -> bool {
    layers.iter().any(|l| {
        l.rows() > 256
            || l.columns.iter().any(|c| {
                let (p, m) = unit_lists(c);
                p.len() > SEGMENT_ENTRIES || m.len() > SEGMENT_ENTRIES
            })
    })
}

/// Row gaps as nibbles (15 = move on 15 rows without adding).
pub fn gaps(rows: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    gap_nibbles(rows, Escape::Z80, &mut out);
    out
}

/// A query column's record: per segment, its kind if `multi`, its two lists'
/// gap counts, then the packed gaps.
pub fn query_record(col: &[(usize, i8)], rows: usize, multi: bool) -> Vec<u8> {
    let mut bytes = Vec::new();
    for s in segments(col, rows) {
        let (np, nm) = (gaps(&s.plus), gaps(&s.minus));
        if multi {
            bytes.push(s.next as u8);
        }
        bytes.extend([np.len() as u8, nm.len() as u8]);
        bytes.extend(pack_nibbles(&np));
        bytes.extend(pack_nibbles(&nm));
    }
    bytes
}

/// Bytes an unpacked list takes: odd lengths lead with a junk byte the entry skips.
fn list_len(rows: &[usize]) -> usize {
    rows.len() + rows.len() % 2
}

/// How a layer's weights are coded: where its column records are kept,
/// and in what form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Coding {
    /// In the program, ready for the scatter loops: no set-up, the most bytes.
    Ready,
    /// Packed into the blob and unpacked by `model_init`: a smaller program,
    /// the same memory once running, set-up time. Only the first n columns
    /// (after layer 1's query columns), the others ready.
    Packed(usize),
    /// Nibble-coded in the program and read while scattering: about half the
    /// memory, slower steps.
    Nibble,
}

/// The columns of layer `k` whose records sit in the program, nibble-coded
/// (`true`; layer 1's query columns always are) or ready.
pub fn image_parts(
    k: usize,
    l: &FusedLayer,
    split: Option<&Split>,
    codings: &[Coding],
) -> Vec<(Range<usize>, bool)> {
    let (query, rest) = match (k, split) {
        (0, Some(sp)) => (Some(sp.query.clone()), sp.context.clone()),
        _ => (None, 0..l.cols),
    };
    let ready = match codings[k] {
        Coding::Nibble => return vec![(0..l.cols, true)],
        Coding::Ready => rest,
        Coding::Packed(n) => rest.start.saturating_add(n).min(rest.end)..rest.end,
    };
    query
        .map(|q| (q, true))
        .into_iter()
        .chain((!ready.is_empty()).then_some((ready, false)))
        .collect()
}

/// Records of a layer kept in the program: which columns, how, and their bytes.
#[derive(Debug, Clone)]
pub struct ImagePart {
    /// The columns.
    pub cols: Range<usize>,
    /// Nibble-coded (else ready).
    pub nibble: bool,
    /// Each column's record.
    pub recs: Vec<Vec<ReadyPart>>,
}

impl ImagePart {
    /// Each record's length in bytes.
    pub fn lengths(&self) -> Vec<usize> {
        self.recs
            .iter()
            .map(|r| r.iter().map(ReadyPart::len).sum())
            .collect()
    }

    /// Whether a byte holds every record's length: then the program lists
    /// lengths, a byte a column, rather than addresses.
    pub fn by_length(&self) -> bool {
        self.lengths().iter().all(|&n| n < 256)
    }
}

/// Layer `k`'s records kept in the program (see [`image_parts`]).
pub fn image_records(
    k: usize,
    l: &FusedLayer,
    split: Option<&Split>,
    blob: &Blob,
) -> Vec<ImagePart> {
    image_parts(k, l, split, &blob.codings)
        .into_iter()
        .map(|(cols, nibble)| ImagePart {
            recs: l.columns[cols.clone()]
                .iter()
                .map(|c| match nibble {
                    true => vec![ReadyPart::Bytes(query_record(c, l.rows(), blob.multi))],
                    false => ready_record(c, l.rows()),
                })
                .collect(),
            cols,
            nibble,
        })
        .collect()
}

/// A ready record's segments: `db turns_plus, turns_minus`, `dw entry_plus`
/// (by the list's length mod 4, see `scatter_routines`), the +1 rows (a
/// junk byte first if odd), `dw entry_minus` (of the −1 loop that ends this
/// kind of segment), the −1 rows; the entries as (loop, slot).
pub fn ready_record(col: &[(usize, i8)], rows: usize) -> Vec<ReadyPart> {
    let entry = |lp: &'static str, n: usize| {
        let slot = if n == 0 {
            "x"
        } else {
            ["s0", "e3", "s2", "e1"][n % 4]
        };
        ReadyPart::Entry(lp, slot)
    };
    let list = |rows: &[usize]| {
        let mut v = vec![0u8; rows.len() % 2];
        v.extend(rows.iter().map(|&r| r as u8));
        ReadyPart::Bytes(v)
    };
    let mut out = Vec::new();
    for s in segments(col, rows) {
        let turns = |n: usize| n.div_ceil(4) as u8;
        out.push(ReadyPart::Bytes(vec![
            turns(s.plus.len()),
            turns(s.minus.len()),
        ]));
        out.push(entry("zsa", s.plus.len()));
        out.push(list(&s.plus));
        let minus = match s.next {
            Next::Last => "zss",
            Next::Same => "zsk",
            Next::Page => "zsn",
        };
        out.push(entry(minus, s.minus.len()));
        out.push(list(&s.minus));
    }
    out
}

/// A piece of a ready record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadyPart {
    /// Bytes as they are.
    Bytes(Vec<u8>),
    /// The address of a scatter loop's slot, a word.
    Entry(&'static str, &'static str),
}

impl ReadyPart {
    /// Its length in bytes.
    pub fn len(&self) -> usize {
        match self {
            ReadyPart::Bytes(b) => b.len(),
            ReadyPart::Entry(..) => 2,
        }
    }
}

/// The columns whose records go to the packed blob, per layer: (first table
/// slot's column, columns).
pub fn record_parts<'a>(
    layers: &'a [FusedLayer],
    split: Option<&Split>,
    codings: &[Coding],
) -> Vec<(usize, Vec<&'a Column>)> {
    layers
        .iter()
        .enumerate()
        .map(|(k, l)| {
            let Coding::Packed(n) = codings[k] else {
                return (0, Vec::new());
            };
            let cols = match (k, split) {
                (0, Some(sp)) => sp.context.clone(),
                _ => 0..l.cols,
            };
            let end = cols.start.saturating_add(n).min(cols.end);
            (cols.start, l.columns[cols.start..end].iter().collect())
        })
        .collect()
}

/// Bytes `l`'s records take unpacked, and nibble-coded (each with its address).
pub fn layer_sizes(l: &FusedLayer) -> (usize, usize) {
    let (mut unpacked, mut packed) = (0, 0);
    let multi = multi_segment(std::slice::from_ref(l));
    for c in &l.columns {
        unpacked += 2;
        packed += 2 + query_record(c, l.rows(), multi).len();
        for s in segments(c, l.rows()) {
            unpacked += 6 + list_len(&s.plus) + list_len(&s.minus);
        }
    }
    (unpacked, packed)
}

/// The column records, packed: what `model_init` unpacks in place.
#[derive(Debug, Clone)]
pub struct Blob {
    /// The packed bytes, in memory order: `model_init` reads them from the
    /// top down (see [`blob`]).
    pub bytes: Vec<u8>,
    /// Unpacked length: the records in RAM from `zblob` on.
    pub unpacked: usize,
    /// Whether segments carry their kind (see [`multi_segment`]).
    pub multi: bool,
    /// Per layer, its coding.
    pub codings: Vec<Coding>,
}

impl Blob {
    /// Whether layer `k`'s records are read nibble-coded while scattering.
    pub fn nibble(&self, k: usize) -> bool {
        self.codings[k] == Coding::Nibble
    }

    /// Memory the blob needs from `zblob` on, packed or unpacked.
    pub fn extent(&self) -> usize {
        self.unpacked.max(self.bytes.len())
    }
}

/// The packed stream as `model_init` reads it, with a running count of how
/// far its writes have come towards the bytes it has not read yet.
#[derive(Default)]
struct Stream {
    bytes: Vec<u8>,
    /// Bytes written minus bytes read so far, and the most it has been.
    ahead: isize,
    most_ahead: isize,
}

impl Stream {
    fn read(&mut self, b: u8) {
        self.bytes.push(b);
        self.ahead -= 1;
    }

    fn write(&mut self, n: usize) {
        self.ahead += n as isize;
        self.most_ahead = self.most_ahead.max(self.ahead);
    }

    /// A list's gap nibbles, high nibble first, a row written after each
    /// nibble that is not an escape, and the junk byte of an odd list.
    fn list(&mut self, rows: &[usize]) {
        let nibbles = gaps(rows);
        for pair in nibbles.chunks(2) {
            // The byte stays unread until its low nibble is taken.
            let byte = pair[0] << 4 | pair.get(1).copied().unwrap_or(0);
            self.write(usize::from(pair[0] != ESCAPE));
            self.read(byte);
            if let Some(&lo) = pair.get(1) {
                self.write(usize::from(lo != ESCAPE));
            }
        }
        self.write(rows.len() % 2);
    }
}

/// The nibble that moves on 15 rows without a row (see [`gaps`]).
const ESCAPE: u8 = 15;

/// Pack every record for unpacking in place from the top down: the blob's
/// last column comes first in the stream, its last segment first, and the
/// stream is stored backwards, so the records written downwards from the
/// top of their memory never reach a byte not yet read (checked here).
/// Per column, the number of its segments if `multi`; per segment, its kind
/// if `multi`, `db n_minus, n_plus`, then the −1 list's and the +1 list's
/// row gaps as nibbles (see [`gaps`]), each list padded to a whole byte. A
/// list's rows are written in the order of the gaps, downwards, so its
/// record holds them from the highest row down: the scatter adds them in
/// any order.
pub fn blob(
    layers: &[FusedLayer],
    split: Option<&Split>,
    codings: &[Coding],
) -> Result<Blob, String> {
    let multi = multi_segment(layers);
    let mut st = Stream::default();
    let mut unpacked = 0usize;
    let parts = record_parts(layers, split, codings);
    for (k, (_, cols)) in parts.into_iter().enumerate().rev() {
        for c in cols.into_iter().rev() {
            let segs = segments(c, layers[k].rows());
            if multi {
                st.read(segs.len() as u8);
            }
            for s in segs.iter().rev() {
                if multi {
                    st.read(s.next as u8);
                }
                st.read(s.minus.len() as u8);
                st.read(s.plus.len() as u8);
                st.list(&s.minus);
                st.write(2);
                st.list(&s.plus);
                st.write(4);
                unpacked += 6 + list_len(&s.plus) + list_len(&s.minus);
            }
        }
    }
    let packed = st.bytes.len();
    // Bottom to top: unread bytes lie below `packed - read`, writes go down
    // from `unpacked - written`; the gap between them never closes.
    if st.most_ahead > unpacked as isize - packed as isize {
        return Err("unpacking the records in place would overwrite packed bytes".into());
    }
    let mut bytes = st.bytes;
    bytes.reverse();
    Ok(Blob {
        bytes,
        unpacked,
        multi,
        codings: codings.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_of_a_wide_layer_has_a_segment_per_page() {
        let col = vec![(3, 1), (300, -2), (511, 1)];
        let s = segments(&col, 600);
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].plus.clone(), s[0].next), (vec![3], Next::Page));
        assert_eq!(s[1].minus, vec![44, 44]);
        assert_eq!(s[1].plus, vec![255]);
        assert_eq!((s[2].plus.len(), s[2].next), (0, Next::Last));
    }

    #[test]
    fn long_lists_are_split_on_one_page() {
        let col: Vec<(usize, i8)> = (0..200).map(|r| (r, -2)).collect();
        let s = segments(&col, 200);
        assert!(s.iter().all(|s| s.minus.len() <= SEGMENT_ENTRIES));
        assert_eq!(s.iter().map(|s| s.minus.len()).sum::<usize>(), 400);
        assert_eq!(s[0].next, Next::Same);
        assert_eq!(s.last().unwrap().next, Next::Last);
        assert!(s.iter().all(|s| gaps(&s.minus).len() < 256));
    }

    /// A layer of `rows` rows whose columns have the given weights.
    fn layer(rows: usize, columns: Vec<Vec<(usize, i8)>>) -> FusedLayer {
        FusedLayer {
            cols: columns.len(),
            columns,
            acc: zlmc_ir::Elem::I16,
            bias: vec![0; rows],
            shift: 0,
            activation: None,
        }
    }

    #[test]
    fn packed_bytes_read_from_the_top_start_with_the_last_columns_counts() {
        // Two rows a byte (gaps of 0, a weight of -2) write the most per
        // byte read: unpacking in place must still never pass a byte not read.
        let dense: Vec<(usize, i8)> = (0..200).map(|r| (r, -2)).collect();
        let l = layer(200, vec![dense.clone(), vec![(7, 1), (9, -1)], dense]);
        let b = blob(std::slice::from_ref(&l), None, &[Coding::Packed(2)]).expect("in place");
        let top: Vec<u8> = b.bytes.iter().rev().copied().collect();
        // 400 entries need two segments, so every column says how many it
        // has. Column 1 (the last packed one) first: one segment, the
        // column's last, with one -1 row and one +1 row.
        assert!(b.multi);
        assert_eq!(&top[..4], &[1, Next::Last as u8, 1, 1]);
        assert_eq!(b.unpacked, (6 + 2 + 2) + (6 + 230) + (6 + 170));
        assert!(b.bytes.len() < b.unpacked);
    }
}
