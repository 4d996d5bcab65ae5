//! The convention every Reelsmith error follows: a stable machine code (`upload.too_large`) that
//! clients and tests can rely on, and whether the fault is the caller's (4xx) or ours (5xx).

use crate::Code;

/// Implemented by every error enum in the workspace.
pub trait ErrorCode {
    /// The error's stable code, such as `script.empty`. It is a [`Code`] of the one catalogue,
    /// so an error type cannot invent a code that clients and docs/api.md do not know.
    fn code(&self) -> Code;
    /// True when the request itself was at fault (bad input, over a limit): an HTTP 4xx.
    fn is_client_error(&self) -> bool;
}
