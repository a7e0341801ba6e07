//! Wall-clock instants as RFC 3339 UTC text with nanoseconds, the form the CRI
//! log lines and the exit file carry.
//!
//! The fraction always has nine digits (`…09.669794200Z`), unlike Go's
//! `RFC3339Nano`, which trims trailing zeros: the kubelet parses with
//! `time.RFC3339Nano`, which accepts any number of fraction digits, and a fixed
//! width keeps every record's prefix the same length, so log lines sort and
//! scan the same way whatever the instant.

use std::time::{SystemTime, UNIX_EPOCH};

/// Length of `YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ`.
pub const RFC3339_NANO_LEN: usize = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    seconds: u64,
    nanos: u32,
}

impl Timestamp {
    /// A clock set before 1970 reads as the epoch: the formats here have no
    /// way to write earlier years, and no container runs then.
    pub fn now() -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            seconds: since_epoch.as_secs(),
            nanos: since_epoch.subsec_nanos(),
        }
    }

    #[cfg(test)]
    pub const fn from_unix(seconds: u64, nanos: u32) -> Self {
        Self { seconds, nanos }
    }

    pub fn rfc3339_nano(&self) -> [u8; RFC3339_NANO_LEN] {
        let days = self.seconds / 86_400;
        let second_of_day = self.seconds % 86_400;
        let (year, month, day) = civil_from_days(days);

        let mut text = *b"0000-00-00T00:00:00.000000000Z";
        // Years past 9999 would need a wider field; wrap rather than panic.
        write_digits(&mut text[0..4], year % 10_000);
        write_digits(&mut text[5..7], month);
        write_digits(&mut text[8..10], day);
        write_digits(&mut text[11..13], second_of_day / 3_600);
        write_digits(&mut text[14..16], second_of_day / 60 % 60);
        write_digits(&mut text[17..19], second_of_day % 60);
        write_digits(&mut text[20..29], u64::from(self.nanos));
        text
    }
}

/// Fills `field` with the low decimal digits of `value`, zero-padded.
fn write_digits(field: &mut [u8], mut value: u64) {
    for digit in field.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, restricted to days after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468; // days since 0000-03-01
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(seconds: u64, nanos: u32) -> String {
        String::from_utf8(Timestamp::from_unix(seconds, nanos).rfc3339_nano().to_vec())
            .expect("ASCII")
    }

    #[test]
    fn formats_the_epoch() {
        assert_eq!(text(0, 0), "1970-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn formats_the_cri_example_instant() {
        // The example of the CRI log format: 2016-10-06T00:17:09.669794202Z.
        assert_eq!(
            text(1_475_713_029, 669_794_202),
            "2016-10-06T00:17:09.669794202Z"
        );
    }

    #[test]
    fn keeps_trailing_zeros_of_the_fraction() {
        assert_eq!(text(1_475_713_029, 5_000), "2016-10-06T00:17:09.000005000Z");
    }

    #[test]
    fn handles_leap_days_and_year_ends() {
        assert_eq!(text(951_782_400, 0), "2000-02-29T00:00:00.000000000Z");
        assert_eq!(text(1_709_164_800, 1), "2024-02-29T00:00:00.000000001Z");
        assert_eq!(
            text(1_735_689_599, 999_999_999),
            "2024-12-31T23:59:59.999999999Z"
        );
        assert_eq!(text(4_102_444_800, 0), "2100-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn now_is_after_this_code_was_written() {
        let now = Timestamp::now().rfc3339_nano();
        assert!(now.as_slice() > b"2026-01-01T00:00:00".as_slice());
    }
}
