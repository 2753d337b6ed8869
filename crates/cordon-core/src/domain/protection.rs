//! Protected profiles and machines: a write the analyst must mean twice. A profile
//! marked `protected = true`, or any machine carrying one of the config's
//! `protected_tags` (domain controllers, ICU devices), makes every write ask for the
//! profile name to be typed — or, for a bulk, the number of machines — before it
//! counts; the CLI needs `--confirm <profile>`. Distinct from `readonly`, which refuses
//! writes outright.

/// What to type, and why it is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The exact text that confirms: the profile name, or the number of machines.
    pub answer: String,
    /// `profile prod-eu is protected` / `dc-01 is tagged domain-controller`.
    pub why: String,
}

impl Challenge {
    /// Whether `typed` confirms (surrounding spaces forgiven, nothing else).
    pub fn accepts(&self, typed: &str) -> bool {
        typed.trim() == self.answer
    }
}

/// A target's name and tags, as far as the protection rule needs them.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub name: &'a str,
    pub tags: &'a [String],
}

/// The challenge a write to `targets` needs, if any. `protected_tags` match
/// case-insensitively.
pub fn challenge(
    profile: &str,
    profile_protected: bool,
    protected_tags: &[String],
    targets: &[Facts<'_>],
) -> Option<Challenge> {
    let tagged = targets.iter().find_map(|t| {
        t.tags
            .iter()
            .find(|tag| {
                protected_tags
                    .iter()
                    .any(|p| p.trim().eq_ignore_ascii_case(tag.trim()))
            })
            .map(|tag| (t.name, tag))
    });
    let why = match (profile_protected, tagged) {
        (true, _) => format!("profile {profile} is protected"),
        (false, Some((name, tag))) => {
            format!("{name} is tagged {tag}, a protected tag")
        }
        (false, None) => return None,
    };
    let answer = if targets.len() > 1 {
        targets.len().to_string()
    } else {
        profile.to_string()
    };
    Some(Challenge { answer, why })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_protected_profile_asks_for_its_name_or_the_count() {
        let none: Vec<String> = Vec::new();
        let one = [Facts {
            name: "ws-1",
            tags: &none,
        }];
        let c = challenge("prod-eu", true, &[], &one).expect("asked");
        assert_eq!(c.answer, "prod-eu");
        assert!(c.accepts(" prod-eu ") && !c.accepts("prod") && !c.accepts("y"));
        let three = [one[0], one[0], one[0]];
        assert_eq!(
            challenge("prod-eu", true, &[], &three)
                .expect("asked")
                .answer,
            "3"
        );
        assert_eq!(challenge("prod-eu", false, &[], &three), None);
    }

    #[test]
    fn a_protected_tag_anywhere_in_the_targets_asks_too() {
        let plain: Vec<String> = vec!["ward-7".into()];
        let dc: Vec<String> = vec!["Domain-Controller".into()];
        let targets = [
            Facts {
                name: "ws-1",
                tags: &plain,
            },
            Facts {
                name: "dc-01",
                tags: &dc,
            },
        ];
        let c = challenge("test", false, &["domain-controller".into()], &targets).expect("asked");
        assert_eq!(c.answer, "2");
        assert!(c.why.contains("dc-01"), "{}", c.why);
    }
}
