//! The convention every Reelsmith error follows: a stable machine code (`upload.too_large`) that
//! clients and tests can rely on, and whether the fault is the caller's (4xx) or ours (5xx).

/// Implemented by every error enum in the workspace.
pub trait ErrorCode {
    /// A stable, dotted, lower-case code such as `script.empty`. Never changes once published.
    fn code(&self) -> &'static str;
    /// True when the request itself was at fault (bad input, over a limit): an HTTP 4xx.
    fn is_client_error(&self) -> bool;
}
