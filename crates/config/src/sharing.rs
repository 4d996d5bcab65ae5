//! `[sharing]`: the public gallery, share links, reports and the automated checks (issue 19;
//! P-VIS-2, P-VIS-3, P-SAFE-1..3).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::sections::RateLimit;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SharingConfig {
    /// Whether people may publish works to the public gallery ("Discover"). Off: publishing is
    /// refused and the gallery is empty; share links still work.
    pub gallery: bool,
    /// Whether people may create unlisted share links.
    pub share_links: bool,
    /// The longest a share link may live, in days; a link asked for without an expiry gets it
    /// too. 0: links may live until revoked.
    pub share_link_max_days: u32,
    /// Reports one client (account, or address when signed out) may send.
    pub reports: RateLimit,
    /// The operator's moderation rules (TOML, see `crates/safety/default_rules.toml`); unset:
    /// the shipped default list. Read again whenever the file changes.
    pub moderation_rules_file: Option<PathBuf>,
}

impl Default for SharingConfig {
    fn default() -> Self {
        SharingConfig {
            gallery: true,
            share_links: true,
            share_link_max_days: 0,
            reports: RateLimit {
                count: 10,
                window_seconds: 60 * 60,
            },
            moderation_rules_file: None,
        }
    }
}
