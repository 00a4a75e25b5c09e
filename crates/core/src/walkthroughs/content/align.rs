//! Which stored step each step file of an import is (step ids are stable across
//! versions while the step exists). Files carry no ids, so steps are matched by title in
//! order (the longest common sequence of titles, as the review's line diff finds it:
//! `text_diff::matching_pairs`), and a retitled step by its place
//! between two matched ones: inserting or removing a file in the middle keeps every other
//! step's id, and the funnel, which counts by id, goes on counting each step as itself.

/// For each wanted step, the index of the current step whose id it keeps, or `None` for
/// a new step. The kept indexes rise (kept steps stay in their order), so the import adds
/// and deletes steps but never moves one.
pub(super) fn keep_ids(current: &[&str], wanted: &[&str]) -> Vec<Option<usize>> {
    let mut kept: Vec<Option<usize>> = vec![None; wanted.len()];
    let pairs = crate::text_diff::matching_pairs(current, wanted);
    // Between two pairs (and before the first, after the last), the steps neither side
    // matched by title are the same steps retitled, taken in order.
    let mut previous = (0, 0);
    for &(c, w) in pairs
        .iter()
        .chain(std::iter::once(&(current.len(), wanted.len())))
    {
        for (k, slot) in kept[previous.1..w].iter_mut().enumerate() {
            if previous.0 + k < c {
                *slot = Some(previous.0 + k);
            }
        }
        if w < wanted.len() {
            kept[w] = Some(c);
        }
        previous = (c + 1, w + 1);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::keep_ids;

    #[test]
    fn a_step_inserted_or_removed_in_the_middle_leaves_the_others_their_ids() {
        let current = ["A", "B", "C"];
        assert_eq!(
            keep_ids(&current, &["A", "new", "B", "C"]),
            [Some(0), None, Some(1), Some(2)]
        );
        assert_eq!(keep_ids(&current, &["A", "C"]), [Some(0), Some(2)]);
        assert_eq!(
            keep_ids(&current, &["new", "A", "B", "C"]),
            [None, Some(0), Some(1), Some(2)]
        );
        assert_eq!(
            keep_ids(&current, &["A", "B", "C", "new"]),
            [Some(0), Some(1), Some(2), None]
        );
    }

    #[test]
    fn a_retitled_step_keeps_its_id_by_its_place() {
        assert_eq!(
            keep_ids(&["A", "B", "C"], &["A", "B renamed", "C"]),
            [Some(0), Some(1), Some(2)]
        );
        // Retitled and another inserted before it: the retitled one still keeps its id,
        // the extra one in that gap is new.
        assert_eq!(
            keep_ids(&["A", "B", "C"], &["A", "B renamed", "new", "C"]),
            [Some(0), Some(1), None, Some(2)]
        );
        // Every title changed: matched by place.
        assert_eq!(
            keep_ids(&["A", "B"], &["X", "Y", "Z"]),
            [Some(0), Some(1), None]
        );
    }

    #[test]
    fn kept_steps_stay_in_order_and_titles_used_twice_are_matched_in_order() {
        assert_eq!(
            keep_ids(&["Intro", "Step", "Step", "End"], &["Intro", "Step", "End"]),
            [Some(0), Some(1), Some(3)]
        );
        // A swap keeps one of the two (a move would change the other's place).
        let swapped = keep_ids(&["A", "B"], &["B", "A"]);
        assert_eq!(swapped.iter().flatten().count(), 1, "{swapped:?}");
        let kept: Vec<usize> = keep_ids(&["A", "B", "C", "D"], &["D", "C", "B", "A", "E"])
            .into_iter()
            .flatten()
            .collect();
        assert!(kept.windows(2).all(|w| w[0] < w[1]), "{kept:?}");
        assert!(keep_ids(&[], &["A"]) == [None] && keep_ids(&["A"], &[]).is_empty());
    }
}
