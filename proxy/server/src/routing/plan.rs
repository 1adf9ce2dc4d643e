//! The number plan: which dialled strings are numbers outside the served domain, the digits the route table is
//! searched with, and each number's call category (campus, local, long distance, international).

use carillon_db::CallCategory;

use crate::config::NumberPlanConfig;

/// A number outside the served domain, as the outbound routes see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutsideNumber {
    /// The digits the routes' prefixes are matched against: the dialled string without the outside-line prefix,
    /// or a `+` number (E.164) written as it would be dialled after that prefix.
    pub(crate) number: String,
    /// What the number plan says the call is; `None` when the number has no shape the plan knows.
    pub(crate) category: Option<CallCategory>,
}

/// The configured number plan; see [`NumberPlanConfig`] for the meaning of each part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NumberPlan {
    outside_prefix: String,
    international_prefix: String,
    trunk_prefix: String,
    country_code: String,
    national_digits: usize,
    subscriber_digits: usize,
    local_area_codes: Vec<String>,
    campus_prefixes: Vec<String>,
}

impl NumberPlan {
    /// The plan `config` describes (checked by `Config::check`).
    pub(crate) fn new(config: &NumberPlanConfig) -> NumberPlan {
        NumberPlan {
            outside_prefix: config.outside_prefix.clone(),
            international_prefix: config.international_prefix.clone(),
            trunk_prefix: config.trunk_prefix.clone(),
            country_code: config.country_code.clone(),
            national_digits: usize::from(config.national_digits),
            subscriber_digits: usize::from(config.subscriber_digits),
            local_area_codes: config.local_area_codes.clone(),
            campus_prefixes: config.campus_prefixes.clone(),
        }
    }

    /// The outside number `dialled` stands for, `None` when it is not one: a `+` number (E.164), a campus
    /// number (digits starting with a campus prefix), or digits after the outside-line prefix (every string of
    /// digits when the prefix is empty). Aliases are looked up before this is asked, so an extension that starts
    /// with the prefix still reaches its user.
    pub(crate) fn outside_number(&self, dialled: &str) -> Option<OutsideNumber> {
        if let Some(e164) = dialled.strip_prefix('+') {
            if e164.is_empty() || !all_digits(e164) {
                return None;
            }
            let number = match e164.strip_prefix(self.country_code.as_str()) {
                Some(national) => format!("{}{national}", self.trunk_prefix),
                None => format!("{}{e164}", self.international_prefix),
            };
            let category = self.category(&number);
            return Some(OutsideNumber { number, category });
        }
        if dialled.is_empty() || !all_digits(dialled) {
            return None;
        }
        if self.campus_prefixes.iter().any(|p| dialled.starts_with(p.as_str())) {
            return Some(OutsideNumber { number: dialled.to_owned(), category: Some(CallCategory::Campus) });
        }
        let number = dialled.strip_prefix(self.outside_prefix.as_str())?;
        if number.is_empty() {
            return None;
        }
        Some(OutsideNumber { number: number.to_owned(), category: self.category(number) })
    }

    /// The category of `number` (digits after the outside-line prefix), in this order: the international
    /// prefix and more digits is international; the long-distance prefix and a national number, or a national
    /// number alone (`national_digits` long), is local when it starts with a local area code and long
    /// distance otherwise; `subscriber_digits` digits (any other length when that is 0) is local.
    pub(crate) fn category(&self, number: &str) -> Option<CallCategory> {
        if number.len() > self.international_prefix.len() && number.starts_with(self.international_prefix.as_str()) {
            return Some(CallCategory::International);
        }
        if !self.trunk_prefix.is_empty()
            && let Some(national) = number.strip_prefix(self.trunk_prefix.as_str())
        {
            let fits =
                if self.national_digits == 0 { !national.is_empty() } else { national.len() == self.national_digits };
            return fits.then(|| self.national_category(national));
        }
        if self.national_digits != 0 && number.len() == self.national_digits {
            return Some(self.national_category(number));
        }
        if self.subscriber_digits == 0 || number.len() == self.subscriber_digits {
            return Some(CallCategory::Local);
        }
        None
    }

    fn national_category(&self, national: &str) -> CallCategory {
        if self.local_area_codes.iter().any(|code| national.starts_with(code.as_str())) {
            CallCategory::Local
        } else {
            CallCategory::LongDistance
        }
    }
}

fn all_digits(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit())
}

/// The name of a call category in reason phrases and logs.
pub(crate) fn category_name(category: CallCategory) -> &'static str {
    match category {
        CallCategory::Internal => "internal",
        CallCategory::Campus => "campus",
        CallCategory::Local => "local",
        CallCategory::LongDistance => "long distance",
        CallCategory::International => "international",
        CallCategory::Emergency => "emergency",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nanp() -> NumberPlan {
        NumberPlan::new(&NumberPlanConfig { local_area_codes: vec!["617".into(), "857".into()], ..Default::default() })
    }

    fn outside(plan: &NumberPlan, dialled: &str) -> Option<(String, Option<CallCategory>)> {
        plan.outside_number(dialled).map(|n| (n.number, n.category))
    }

    #[test]
    fn nanp_numbers_after_the_outside_prefix_are_classified_by_length_and_area_code() {
        let plan = nanp();
        let local = Some(CallCategory::Local);
        let long = Some(CallCategory::LongDistance);
        assert_eq!(outside(&plan, "95551234"), Some(("5551234".into(), local)), "7 digits: local");
        assert_eq!(outside(&plan, "96175551234"), Some(("6175551234".into(), local)), "10 digits, local area code");
        assert_eq!(outside(&plan, "916175551234"), Some(("16175551234".into(), local)), "1 + local area code");
        assert_eq!(outside(&plan, "92125551234"), Some(("2125551234".into(), long)), "10 digits elsewhere");
        assert_eq!(outside(&plan, "912125551234"), Some(("12125551234".into(), long)), "1 + 10 digits elsewhere");
        assert_eq!(
            outside(&plan, "9011442079460000"),
            Some(("011442079460000".into(), Some(CallCategory::International)))
        );
    }

    #[test]
    fn strings_that_are_no_outside_number_are_left_to_the_aliases() {
        let plan = nanp();
        assert_eq!(outside(&plan, "4001"), None, "no outside-line prefix");
        assert_eq!(outside(&plan, "alice.cueba"), None);
        assert_eq!(outside(&plan, "9"), None, "the prefix alone");
        assert_eq!(outside(&plan, "9555-1234"), None, "digits only");
        assert_eq!(outside(&plan, "+"), None);
    }

    #[test]
    fn numbers_of_no_known_shape_have_no_category() {
        let plan = nanp();
        assert_eq!(outside(&plan, "912345"), Some(("12345".into(), None)), "1 + 4 digits is no national number");
        assert_eq!(outside(&plan, "9123"), Some(("123".into(), None)));
        assert_eq!(outside(&plan, "9011"), Some(("011".into(), None)), "the international prefix alone");
    }

    #[test]
    fn e164_numbers_need_no_prefix_and_are_written_as_dialled_after_it() {
        let plan = nanp();
        assert_eq!(outside(&plan, "+16175551234"), Some(("16175551234".into(), Some(CallCategory::Local))));
        assert_eq!(outside(&plan, "+12125551234"), Some(("12125551234".into(), Some(CallCategory::LongDistance))));
        assert_eq!(
            outside(&plan, "+442079460000"),
            Some(("011442079460000".into(), Some(CallCategory::International)))
        );
        assert_eq!(outside(&plan, "+1-617"), None);
    }

    #[test]
    fn campus_prefixes_are_dialled_without_the_outside_prefix() {
        let plan = NumberPlan::new(&NumberPlanConfig { campus_prefixes: vec!["6".into()], ..Default::default() });
        assert_eq!(outside(&plan, "61234"), Some(("61234".into(), Some(CallCategory::Campus))));
    }

    #[test]
    fn a_european_plan_without_fixed_lengths() {
        // Germany from a PBX: 0 for an outside line, 00 international, 0 + area code long distance, else local.
        let plan = NumberPlan::new(&NumberPlanConfig {
            outside_prefix: "0".into(),
            international_prefix: "00".into(),
            trunk_prefix: "0".into(),
            country_code: "49".into(),
            national_digits: 0,
            subscriber_digits: 0,
            local_area_codes: vec!["30".into()],
            campus_prefixes: Vec::new(),
        });
        assert_eq!(outside(&plan, "0123456"), Some(("123456".into(), Some(CallCategory::Local))));
        assert_eq!(outside(&plan, "00891234567"), Some(("0891234567".into(), Some(CallCategory::LongDistance))));
        assert_eq!(outside(&plan, "00301234567"), Some(("0301234567".into(), Some(CallCategory::Local))));
        assert_eq!(outside(&plan, "0001234567"), Some(("001234567".into(), Some(CallCategory::International))));
        assert_eq!(outside(&plan, "+4930123"), Some(("030123".into(), Some(CallCategory::Local))));
    }

    #[test]
    fn no_outside_prefix_makes_every_digit_string_a_candidate() {
        let plan = NumberPlan::new(&NumberPlanConfig { outside_prefix: String::new(), ..Default::default() });
        assert_eq!(outside(&plan, "5551234"), Some(("5551234".into(), Some(CallCategory::Local))));
    }
}
