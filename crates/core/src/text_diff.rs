//! Line diffs for people reviewing a change: a walkthrough step's content before
//! publishing, an upstream tool's definition before approving it. One bounded
//! longest-common-subsequence, so that no text makes a review slow.

/// Above this many cells (lines × lines) a text is compared by its common start and end
/// only, so that a review stays fast whatever the texts.
const MAX_DIFF_CELLS: usize = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Same,
    Added,
    Removed,
}

impl LineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::Same => "same",
            LineKind::Added => "added",
            LineKind::Removed => "removed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    pub kind: LineKind,
    pub text: String,
}

/// The lines of `before` and `after` (split as [`str::lines`] splits them), each marked
/// same, removed or added.
pub fn line_diff(before: &str, after: &str) -> Vec<DiffLine> {
    let old: Vec<&str> = before.lines().collect();
    let new: Vec<&str> = after.lines().collect();
    diff_lines(&old, &new)
}

/// Lines already split, each marked same, removed or added: between two kept lines the
/// removed lines come before the added lines that replace them.
pub fn diff_lines<S: AsRef<str>>(old: &[S], new: &[S]) -> Vec<DiffLine> {
    let old: Vec<&str> = old.iter().map(AsRef::as_ref).collect();
    let new: Vec<&str> = new.iter().map(AsRef::as_ref).collect();
    let mut lines = Vec::with_capacity(old.len().max(new.len()));
    let line = |kind, text: &str| DiffLine {
        kind,
        text: text.to_owned(),
    };
    let (mut i, mut j) = (0, 0);
    for (match_i, match_j) in matching_pairs(&old, &new) {
        lines.extend(old[i..match_i].iter().map(|t| line(LineKind::Removed, t)));
        lines.extend(new[j..match_j].iter().map(|t| line(LineKind::Added, t)));
        lines.push(line(LineKind::Same, old[match_i]));
        (i, j) = (match_i + 1, match_j + 1);
    }
    lines.extend(old[i..].iter().map(|t| line(LineKind::Removed, t)));
    lines.extend(new[j..].iter().map(|t| line(LineKind::Added, t)));
    lines
}

/// The index pairs of a longest common subsequence of `a` and `b`, in order. The common
/// start and end are matched directly; a middle too large to compare is left unmatched.
pub(crate) fn matching_pairs<T: PartialEq>(a: &[T], b: &[T]) -> Vec<(usize, usize)> {
    let start = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let end = a[start..]
        .iter()
        .rev()
        .zip(b[start..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (middle_a, middle_b) = (&a[start..a.len() - end], &b[start..b.len() - end]);
    let mut pairs: Vec<(usize, usize)> = (0..start).map(|k| (k, k)).collect();
    if middle_a.len().saturating_mul(middle_b.len()) <= MAX_DIFF_CELLS {
        pairs.extend(
            longest_common(middle_a, middle_b)
                .into_iter()
                .map(|(i, j)| (start + i, start + j)),
        );
    }
    pairs.extend((0..end).map(|k| (a.len() - end + k, b.len() - end + k)));
    pairs
}

/// The classic dynamic programme: lengths of the longest common suffixes, then a walk.
fn longest_common<T: PartialEq>(a: &[T], b: &[T]) -> Vec<(usize, usize)> {
    let width = b.len() + 1;
    let mut table = vec![0u32; (a.len() + 1) * width];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            table[i * width + j] = if a[i] == b[j] {
                table[(i + 1) * width + j + 1] + 1
            } else {
                table[(i + 1) * width + j].max(table[i * width + j + 1])
            };
        }
    }
    let (mut i, mut j, mut pairs) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            pairs.push((i, j));
            (i, j) = (i + 1, j + 1);
        } else if table[(i + 1) * width + j] >= table[i * width + j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(lines: &[DiffLine]) -> Vec<(&str, &str)> {
        lines
            .iter()
            .map(|l| (l.kind.as_str(), l.text.as_str()))
            .collect()
    }

    #[test]
    fn a_line_diff_keeps_what_stayed_and_marks_the_rest() {
        let diff = line_diff("a\nb\nc\nd", "a\nB\nc\nd\ne");
        assert_eq!(
            kinds(&diff),
            [
                ("same", "a"),
                ("removed", "b"),
                ("added", "B"),
                ("same", "c"),
                ("same", "d"),
                ("added", "e")
            ]
        );
        assert!(line_diff("x", "x").iter().all(|l| l.kind == LineKind::Same));
        assert_eq!(kinds(&line_diff("", "new")), [("added", "new")]);
    }

    #[test]
    fn split_lines_are_compared_as_given() {
        let old = ["", "kept"];
        let new = ["kept", ""];
        assert_eq!(
            kinds(&diff_lines(&old, &new)),
            [("removed", ""), ("same", "kept"), ("added", "")]
        );
    }

    #[test]
    fn a_huge_middle_is_compared_by_its_ends_only() {
        let old: String = (0..1500).map(|n| format!("old {n}\n")).collect();
        let new: String = (0..1500).map(|n| format!("new {n}\n")).collect();
        let diff = line_diff(&format!("top\n{old}bottom"), &format!("top\n{new}bottom"));
        assert_eq!(diff.len(), 3002);
        assert_eq!(
            (diff[0].kind, diff[3001].kind),
            (LineKind::Same, LineKind::Same)
        );
    }
}
