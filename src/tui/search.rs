//! The machine list's search keys laid end to end, so a filter reads memory in order
//! instead of one heap block per machine.
//!
//! At 1,000,000 machines a filter that checks each row's own summary waits on memory
//! (~80 ns per row: the summaries are scattered over hundreds of megabytes). Here the
//! rows' lowercase keys sit in two buffers, each row's part followed by a newline, and a
//! free word is found by one substring search over a buffer (`memchr::memmem`,
//! vectorised); a hit is mapped back to its row through the start offsets.
//!
//! The key's pieces (name, id, addresses, tags) are split by what they are made of:
//! pieces of hex digits, dots and colons (ids, IPv4 and IPv6 addresses) in one buffer,
//! the rest (names, tags) in the other. A word with any other character (`ws-hr`)
//! cannot be inside the first, so only the second, about a third of the bytes, is
//! searched for it.

use std::ops::Range;

use memchr::memmem;

/// After each row's part. Rows are told apart by `Buffer::starts`, not by this byte
/// (a name from the service may hold one); a match never spans two rows because every
/// piece ends with `SEP`, which no searchable word holds.
const END: u8 = b'\n';
/// Between the pieces of a key (as in `MachineSummary`).
const SEP: u8 = 0x1f;

/// Only hex digits, dots and colons: an id or an address.
fn is_hexish(piece: &[u8]) -> bool {
    piece
        .iter()
        .all(|&b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b'.' || b == b':')
}

/// One buffer: each row's pieces, each followed by `SEP`, then `END`.
#[derive(Debug, Clone)]
struct Buffer {
    bytes: Vec<u8>,
    /// Where each row's part starts, and one more entry: the end of the last.
    starts: Vec<u32>,
}

impl Default for Buffer {
    fn default() -> Self {
        Self {
            bytes: Vec::new(),
            starts: vec![0],
        }
    }
}

impl Buffer {
    fn add_piece(&mut self, piece: &[u8]) {
        self.bytes.extend_from_slice(piece);
        self.bytes.push(SEP);
    }

    /// The row's pieces are in; false when offsets would outgrow `u32`.
    fn end_row(&mut self) -> bool {
        self.bytes.push(END);
        match u32::try_from(self.bytes.len()) {
            Ok(end) => {
                self.starts.push(end);
                true
            }
            Err(_) => false,
        }
    }

    fn row(&self, i: usize) -> &[u8] {
        &self.bytes[self.starts[i] as usize..self.starts[i + 1] as usize]
    }

    /// The rows in `rows` whose part contains `word`, ascending.
    fn find(&self, word: &[u8], rows: Range<usize>) -> Vec<usize> {
        let finder = memmem::Finder::new(word);
        let end = self.starts[rows.end] as usize;
        let mut row = rows.start;
        let mut out = Vec::new();
        while row < rows.end {
            let from = self.starts[row] as usize;
            let Some(hit) = finder.find(&self.bytes[from..end]) else {
                break;
            };
            let at = from + hit;
            // The row holding the hit: this one when most rows match, else found
            // by binary search over the starts that follow.
            if self.starts[row + 1] as usize <= at {
                let after = &self.starts[row + 1..=rows.end];
                row += after.partition_point(|&s| s as usize <= at);
            }
            out.push(row);
            row += 1;
        }
        out
    }
}

/// The rows' keys, in row order.
#[derive(Debug, Clone, Default)]
pub struct SearchKeys {
    /// Names, tags, and anything else not `is_hexish`.
    words: Buffer,
    /// Ids and addresses.
    hexish: Buffer,
    /// Some key changed in place (or a buffer outgrew `u32` offsets): the buffers no
    /// longer say what the rows hold until `rebuild`.
    stale: bool,
}

impl SearchKeys {
    /// The buffers hold exactly the keys of `rows` rows.
    pub fn covers(&self, rows: usize) -> bool {
        !self.stale && self.words.starts.len() == rows + 1
    }

    /// Append the next row's key (`MachineSummary::search_key`).
    pub fn push(&mut self, key: &str) {
        for piece in key.as_bytes().split(|&b| b == SEP) {
            if piece.is_empty() {
                continue;
            }
            if is_hexish(piece) {
                self.hexish.add_piece(piece);
            } else {
                self.words.add_piece(piece);
            }
        }
        let words_fit = self.words.end_row();
        let hexish_fit = self.hexish.end_row();
        if !(words_fit && hexish_fit) {
            self.stale = true; // 4 GB of keys: filters check each row instead
        }
    }

    /// A row's key changed: until `rebuild`, filters check each row instead.
    pub fn mark_stale(&mut self) {
        self.stale = true;
    }

    pub fn is_stale(&self) -> bool {
        self.stale
    }

    pub fn rebuild<'a>(&mut self, keys: impl ExactSizeIterator<Item = &'a str>) {
        *self = Self::default();
        self.words.starts.reserve(keys.len());
        self.hexish.starts.reserve(keys.len());
        for key in keys {
            self.push(key);
        }
    }

    /// A word the buffers can be searched for as bytes: one that cannot match across
    /// two rows or two pieces.
    pub fn searchable(word: &str) -> bool {
        !word.is_empty() && !word.bytes().any(|b| b == END || b == SEP)
    }

    /// Row `i`'s key contains `word` (the caller checked `covers`, and that `word` is
    /// `searchable`: a word holding `SEP` could match across pieces moved together).
    pub fn contains(&self, i: usize, word: &[u8]) -> bool {
        super::query::contains(self.words.row(i), word)
            || (is_hexish(word) && super::query::contains(self.hexish.row(i), word))
    }

    /// The rows in `rows` whose key contains `word` (`searchable`) and that `keep`
    /// accepts, ascending.
    pub fn find(
        &self,
        word: &str,
        rows: Range<usize>,
        mut keep: impl FnMut(usize) -> bool,
    ) -> Vec<usize> {
        let word = word.as_bytes();
        let mut found = self.words.find(word, rows.clone());
        if is_hexish(word) {
            found = union(&found, &self.hexish.find(word, rows));
        }
        found.retain(|&i| keep(i));
        found
    }
}

/// Two ascending lists as one, each row once.
fn union(a: &[usize], b: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut x, mut y) = (a.iter().peekable(), b.iter().peekable());
    loop {
        let next = match (x.peek(), y.peek()) {
            (Some(&&p), Some(&&q)) if p == q => {
                y.next();
                x.next()
            }
            (Some(&&p), Some(&&q)) if q < p => y.next(),
            (Some(_), _) => x.next(),
            (None, _) => y.next(),
        };
        match next {
            Some(&i) => out.push(i),
            None => return out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> SearchKeys {
        let mut k = SearchKeys::default();
        for key in list {
            k.push(key);
        }
        k
    }

    #[test]
    fn finds_each_matching_row_once_in_order() {
        let k = keys(&["ws-hr-01", "db-01", "ws-hr-02ws", "", "ws"]);
        assert!(k.covers(5));
        assert_eq!(k.find("ws", 0..5, |_| true), vec![0, 2, 4]);
        assert_eq!(k.find("01", 0..5, |_| true), vec![0, 1]);
        assert_eq!(k.find("zz", 0..5, |_| true), Vec::<usize>::new());
        assert!(k.contains(2, b"02ws"));
        assert!(!k.contains(3, b"w"));
    }

    #[test]
    fn a_range_sees_only_its_rows() {
        let k = keys(&["a1", "b1", "a2", "b2", "a3"]);
        assert_eq!(k.find("a", 1..4, |_| true), vec![2]);
        assert_eq!(k.find("a", 4..5, |_| true), vec![4]);
        assert_eq!(k.find("a", 2..2, |_| true), Vec::<usize>::new());
        assert_eq!(k.find("a", 0..5, |i| i != 2), vec![0, 4]);
    }

    #[test]
    fn a_match_never_spans_two_rows() {
        // "ab" exists only across the end of row 0 and the start of row 1, which the
        // separators after each piece and row keep apart.
        let k = keys(&["xa", "by"]);
        assert_eq!(k.find("ab", 0..2, |_| true), Vec::<usize>::new());
        assert!(!SearchKeys::searchable("a\nb"));
        assert!(!SearchKeys::searchable("a\u{1f}b"));
        assert!(SearchKeys::searchable("ünïcode"));
    }

    #[test]
    fn sparse_hits_are_mapped_to_their_rows() {
        let list: Vec<String> = (0..10_000).map(|i| format!("host-{i:05}")).collect();
        let k = keys(&list.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(
            k.find("host-0777", 0..10_000, |_| true),
            (7770..7780).collect::<Vec<_>>()
        );
        assert_eq!(k.find("-09999", 0..10_000, |_| true), vec![9999]);
        assert_eq!(k.find("t-", 5000..5003, |_| true), vec![5000, 5001, 5002]);
    }

    #[test]
    fn ids_and_addresses_are_found_where_they_are_kept() {
        let k = keys(&[
            "ws-01.contoso.local\u{1f}0a1b2c\u{1f}10.0.0.1\u{1f}fe80::1\u{1f}ward-7",
            "cafe\u{1f}ffee00\u{1f}\u{1f}\u{1f}",
            "db-02\u{1f}0a1b2d\u{1f}10.0.0.2\u{1f}%zone\u{1f}",
        ]);
        assert!(k.covers(3));
        // Hex words are looked for in both buffers; one row is found once.
        assert_eq!(k.find("0a1b2", 0..3, |_| true), vec![0, 2]);
        assert_eq!(k.find("caf", 0..3, |_| true), vec![1]);
        assert_eq!(k.find("0.0.0", 0..3, |_| true), vec![0, 2]);
        assert_eq!(k.find("fe80:", 0..3, |_| true), vec![0]);
        assert_eq!(k.find("e", 0..3, |_| true), vec![0, 1, 2]);
        // Other words only among names and tags.
        assert_eq!(k.find("ward-7", 0..3, |_| true), vec![0]);
        assert_eq!(k.find("%zo", 0..3, |_| true), vec![2]);
        assert_eq!(k.find("local", 0..3, |_| true), vec![0]);
        for (i, word) in [(0, "10.0.0.1"), (1, "ffee"), (2, "zone"), (0, "ws-01")] {
            assert!(k.contains(i, word.as_bytes()), "{i} {word}");
        }
        // Never across two pieces.
        assert!(!k.contains(0, b"local0a"));
        assert_eq!(union(&[1, 4, 9], &[0, 4, 10]), vec![0, 1, 4, 9, 10]);
    }

    #[test]
    fn a_stale_buffer_covers_nothing_until_rebuilt() {
        let mut k = keys(&["a", "b"]);
        k.mark_stale();
        assert!(!k.covers(2));
        k.rebuild(["c", "d", "e"].into_iter());
        assert!(k.covers(3));
        assert_eq!(k.find("d", 0..3, |_| true), vec![1]);
    }
}
