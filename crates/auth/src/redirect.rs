//! Where to send someone after signing in: the `next` the sign-in page was given, only when it
//! is a path on this site. A browser reads the target its own way before following it: it drops
//! tabs and line breaks anywhere, trims control characters and spaces at both ends, and reads
//! `\` as `/` in http(s) URLs, so `/\t/evil.example` and `/\evil.example` both become the
//! scheme-relative `//evil.example`, another site. The target is normalised exactly so, and
//! then accepted only as a path that starts with a single `/`.

/// The longest target kept; anything longer goes to the default page.
pub const MAX_NEXT_CHARS: usize = 2048;

/// `raw` (the decoded `next` parameter) as a same-origin path, normalised the way a browser
/// would read it, or `None` when it is empty, too long, not a path, or would leave the site.
pub fn same_origin_path(raw: &str) -> Option<String> {
    let path: String = raw
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect::<String>()
        .trim_matches(|c: char| c <= ' ')
        .replace('\\', "/");
    let mut chars = path.chars();
    let single_slash = chars.next() == Some('/') && chars.next() != Some('/');
    let plain = !path.chars().any(char::is_control);
    (single_slash && plain && path.chars().count() <= MAX_NEXT_CHARS).then_some(path)
}
