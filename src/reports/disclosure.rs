//! Disclosure control for admins' reports: a cell counting 1–4 people is hidden (primary
//! suppression), and when exactly one row is hidden under a shown total, the row with the
//! next-smallest number of people is hidden too (secondary suppression), so the first cannot
//! be worked out by subtracting the shown rows from the total.

/// Fewer people than this (and more than none) in a cell hides it.
pub const THRESHOLD: i64 = 5;

fn too_few(people: i64) -> bool {
    (1..THRESHOLD).contains(&people)
}

/// Which rows, and whether the total, must be hidden, from each row's and the total's count of
/// people (and consultations, to break ties between rows).
pub fn suppressed(rows: &[(i64, i64)], total_people: i64) -> (Vec<bool>, bool) {
    let mut hidden: Vec<bool> = rows.iter().map(|(people, _)| too_few(*people)).collect();
    let mut total_hidden = too_few(total_people);
    if !total_hidden && hidden.iter().filter(|h| **h).count() == 1 {
        let next = rows
            .iter()
            .enumerate()
            .filter(|(i, _)| !hidden[*i])
            .min_by_key(|(i, counts)| (**counts, *i))
            .map(|(i, _)| i);
        match next {
            Some(i) => hidden[i] = true,
            None => total_hidden = true,
        }
    }
    (hidden, total_hidden)
}

#[cfg(test)]
mod tests {
    use super::suppressed;

    #[test]
    fn one_small_cell_takes_the_next_smallest_with_it() {
        let rows = [(12, 20), (3, 3), (7, 9), (6, 11)];
        assert_eq!(
            suppressed(&rows, 28),
            (vec![false, true, false, true], false)
        );
    }

    #[test]
    fn two_small_cells_need_no_secondary_suppression() {
        let rows = [(12, 20), (3, 3), (2, 2)];
        assert_eq!(suppressed(&rows, 17), (vec![false, true, true], false));
    }

    #[test]
    fn a_small_total_is_hidden_with_its_rows() {
        assert_eq!(suppressed(&[(2, 2), (1, 1)], 3), (vec![true, true], true));
    }
}
