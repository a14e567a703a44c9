//! Player values: the tryout formula and the bounds every value stays within.
//!
//! Pure functions, no I/O: the wizard and the value commands call these, the database stores
//! what they return.

use std::fmt;

/// The highest value a member can have, in millions.
pub const MAX_VALUE: i64 = 1_000_000;

/// A tryout position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// Goalkeeper.
    Gk,
    /// Central midfielder.
    Cm,
    /// Left or right winger.
    Wing,
    /// Centre forward.
    Cf,
}

impl Position {
    /// Every position, in the order the select menu shows them.
    pub const ALL: [Position; 4] = [Position::Gk, Position::Cm, Position::Wing, Position::Cf];

    /// The label shown to users and stored in the database.
    pub fn label(self) -> &'static str {
        match self {
            Position::Gk => "GK",
            Position::Cm => "CM",
            Position::Wing => "LW/RW",
            Position::Cf => "CF",
        }
    }

    /// Parses a stored or selected label.
    pub fn from_label(label: &str) -> Option<Position> {
        Position::ALL.into_iter().find(|p| p.label() == label)
    }

    /// The skills rated for this position: goalkeeping only for goalkeepers.
    pub fn skills(self) -> &'static [Skill] {
        match self {
            Position::Gk => &[
                Skill::Shooting,
                Skill::Dribbling,
                Skill::Passing,
                Skill::Defense,
                Skill::Goalkeeping,
            ],
            _ => &[
                Skill::Shooting,
                Skill::Dribbling,
                Skill::Passing,
                Skill::Defense,
            ],
        }
    }

    /// The weight of `skill` for this position, in tenths (0.3 is 3) so sums are exact.
    fn weight_tenths(self, skill: Skill) -> i64 {
        use Skill::*;
        match (self, skill) {
            (Position::Gk, Goalkeeping) => 60,
            (Position::Gk, Passing) => 10,
            (Position::Gk, Defense) => 3,
            (Position::Gk, Shooting | Dribbling) => 1,
            (Position::Cm, Defense | Passing) => 30,
            (Position::Cm, Dribbling) => 15,
            (Position::Cm, Shooting) => 10,
            (Position::Cm, Goalkeeping) => 1,
            (Position::Wing, Dribbling) => 35,
            (Position::Wing, Passing) => 25,
            (Position::Wing, Shooting) => 20,
            (Position::Wing, Defense) => 5,
            (Position::Wing, Goalkeeping) => 1,
            (Position::Cf, Shooting) => 50,
            (Position::Cf, Dribbling) => 15,
            (Position::Cf, Passing) => 10,
            (Position::Cf, Defense) => 2,
            (Position::Cf, Goalkeeping) => 1,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A rated skill.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Skill {
    /// Shooting.
    Shooting,
    /// Dribbling.
    Dribbling,
    /// Passing.
    Passing,
    /// Defense.
    Defense,
    /// Goalkeeping (goalkeepers only).
    Goalkeeping,
}

impl Skill {
    /// The name shown in prompts.
    pub fn name(self) -> &'static str {
        match self {
            Skill::Shooting => "shooting",
            Skill::Dribbling => "dribbling",
            Skill::Passing => "passing",
            Skill::Defense => "defense",
            Skill::Goalkeeping => "goalkeeping",
        }
    }
}

/// The ratings given in one tryout, each 0..=10.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ratings {
    /// (skill, rating) in the order they were given.
    pub given: Vec<(Skill, u8)>,
}

impl Ratings {
    /// The rating for `skill`, if it was rated.
    pub fn get(&self, skill: Skill) -> Option<u8> {
        self.given
            .iter()
            .find(|(s, _)| *s == skill)
            .map(|(_, r)| *r)
    }
}

/// The player value for `ratings` at `position`, in millions:
/// `floor(50 * Σ(rating·weight) / Σ(10·weight))` over the skills that were rated.
pub fn compute(position: Position, ratings: &Ratings) -> i64 {
    let (scored, best) =
        ratings
            .given
            .iter()
            .fold((0i64, 0i64), |(scored, best), (skill, rating)| {
                let weight = position.weight_tenths(*skill);
                (scored + i64::from(*rating) * weight, best + 10 * weight)
            });
    if best == 0 {
        0
    } else {
        50 * scored / best
    }
}

/// How a value is shown: `¥35 million`.
pub fn format_value(value: i64) -> String {
    format!("¥{value} million")
}

/// What a user typed as a rating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RatingInput {
    /// A whole number 0..=10.
    Rating(u8),
    /// `cancel`.
    Cancel,
    /// Anything else.
    Invalid,
}

/// Parses a typed rating: a whole number from 0 to 10 (digits only), or `cancel`.
pub fn parse_rating(text: &str) -> RatingInput {
    let text = text.trim();
    if text.eq_ignore_ascii_case("cancel") {
        return RatingInput::Cancel;
    }
    if text.is_empty() || text.len() > 2 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return RatingInput::Invalid;
    }
    match text.parse::<u8>() {
        Ok(rating) if rating <= 10 => RatingInput::Rating(rating),
        _ => RatingInput::Invalid,
    }
}

/// Why a value change was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BoundsError {
    /// The result would fall outside 0..=MAX_VALUE.
    OutOfRange,
}

impl fmt::Display for BoundsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "values must stay between 0 and {}",
            format_value(MAX_VALUE)
        )
    }
}

/// `amount` if it is a valid value.
pub fn check_value(amount: i64) -> Result<i64, BoundsError> {
    if (0..=MAX_VALUE).contains(&amount) {
        Ok(amount)
    } else {
        Err(BoundsError::OutOfRange)
    }
}

/// `current + delta` if the result is a valid value (no overflow, within bounds).
pub fn apply_delta(current: i64, delta: i64) -> Result<i64, BoundsError> {
    current
        .checked_add(delta)
        .ok_or(BoundsError::OutOfRange)
        .and_then(check_value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ratings(pairs: &[(Skill, u8)]) -> Ratings {
        Ratings {
            given: pairs.to_vec(),
        }
    }

    use Skill::*;

    #[test]
    fn perfect_ratings_are_worth_50_at_every_position() {
        for position in Position::ALL {
            let all_ten = ratings(
                &position
                    .skills()
                    .iter()
                    .map(|s| (*s, 10))
                    .collect::<Vec<_>>(),
            );
            assert_eq!(compute(position, &all_ten), 50, "{position}");
        }
    }

    #[test]
    fn worked_example_centre_forward() {
        // Σ(r·w) = 8·5 + 6·1.5 + 5·1 + 3·0.2 = 54.6; Σ(10·w) = 77; 50 · 54.6 / 77 = 35.45…
        let r = ratings(&[(Shooting, 8), (Dribbling, 6), (Passing, 5), (Defense, 3)]);
        assert_eq!(compute(Position::Cf, &r), 35);
    }

    #[test]
    fn worked_example_goalkeeper() {
        // Σ(r·w) = 2·0.1 + 3·0.1 + 7·1 + 5·0.3 + 9·6 = 63.0; Σ(10·w) = 75; 50 · 63 / 75 = 42
        let r = ratings(&[
            (Shooting, 2),
            (Dribbling, 3),
            (Passing, 7),
            (Defense, 5),
            (Goalkeeping, 9),
        ]);
        assert_eq!(compute(Position::Gk, &r), 42);
    }

    #[test]
    fn worked_example_midfielder_and_winger() {
        // CM: 4·1 + 5·1.5 + 9·3 + 8·3 = 62.5; Σ(10·w) = 85; 50 · 62.5 / 85 = 36.76…
        let r = ratings(&[(Shooting, 4), (Dribbling, 5), (Passing, 9), (Defense, 8)]);
        assert_eq!(compute(Position::Cm, &r), 36);
        // LW/RW: 7·2 + 9·3.5 + 6·2.5 + 2·0.5 = 61.5; Σ(10·w) = 85; 50 · 61.5 / 85 = 36.17…
        let r = ratings(&[(Shooting, 7), (Dribbling, 9), (Passing, 6), (Defense, 2)]);
        assert_eq!(compute(Position::Wing, &r), 36);
    }

    #[test]
    fn all_zero_is_zero_and_nothing_rated_is_zero() {
        let r = ratings(&[(Shooting, 0), (Dribbling, 0), (Passing, 0), (Defense, 0)]);
        assert_eq!(compute(Position::Cf, &r), 0);
        assert_eq!(compute(Position::Cf, &Ratings::default()), 0);
    }

    #[test]
    fn ratings_parse_only_whole_numbers_from_0_to_10() {
        assert_eq!(parse_rating(" 7 "), RatingInput::Rating(7));
        assert_eq!(parse_rating("0"), RatingInput::Rating(0));
        assert_eq!(parse_rating("10"), RatingInput::Rating(10));
        assert_eq!(parse_rating("CANCEL"), RatingInput::Cancel);
        for bad in ["eleven", "-1", "7.5", "11", "+5", "", "100", "1e1", "٣"] {
            assert_eq!(parse_rating(bad), RatingInput::Invalid, "{bad:?}");
        }
    }

    #[test]
    fn values_stay_within_bounds() {
        assert_eq!(check_value(0), Ok(0));
        assert_eq!(check_value(MAX_VALUE), Ok(MAX_VALUE));
        assert!(check_value(-1).is_err());
        assert!(check_value(MAX_VALUE + 1).is_err());
        assert_eq!(apply_delta(10, -10), Ok(0));
        assert!(apply_delta(10, -11).is_err());
        assert!(apply_delta(MAX_VALUE, 1).is_err());
        assert!(apply_delta(5, i64::MAX).is_err());
        assert!(apply_delta(-5, i64::MIN).is_err());
        assert!(BoundsError::OutOfRange
            .to_string()
            .contains("¥1000000 million"));
    }

    #[test]
    fn positions_round_trip_their_labels() {
        for p in Position::ALL {
            assert_eq!(Position::from_label(p.label()), Some(p));
        }
        assert_eq!(Position::from_label("ST"), None);
    }
}
