//! The stock errors. Codes are stable and come from the catalogue (`stock.*`), or are the
//! provider codes of the shared call policy (`provider.rate_limited`, `provider.unauthorized`...)
//! for what went wrong at Pexels or Pixabay. No variant holds a key: the shared `Http` redacts
//! every provider answer before it reaches an error.

use reelsmith_core::{Code, ErrorCode};
use reelsmith_providers::ProviderError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StockError {
    /// The scene's text has no content word to search with.
    #[error("the scene's text has no words to search for")]
    NoTerms,
    /// A search ran and found nothing usable.
    #[error("{source_name}: nothing matches \"{query}\"")]
    NoResults { source_name: String, query: String },
    /// The file is larger than the operator's download limit (refused before or while
    /// downloading; nothing is left on disk).
    #[error("{source_name}: the file is larger than the download limit of {limit_mib} MiB")]
    TooLarge { source_name: String, limit_mib: u64 },
    /// The clip lasts longer than the operator's limit.
    #[error("{source_name}: the clip lasts {seconds:.1} s, longer than the limit of {limit_s} s")]
    TooLong {
        source_name: String,
        seconds: f64,
        limit_s: u64,
    },
    /// The operator's media library (its folder or `library.toml`) cannot be used.
    #[error("media library: {0}")]
    Library(String),
    /// Writing a download or reading a library file failed.
    #[error("stock file: {0}")]
    Io(String),
    /// Pexels or Pixabay failed (rate limit, refused key, outage, odd answer).
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

impl ErrorCode for StockError {
    fn code(&self) -> Code {
        match self {
            StockError::NoTerms => Code::StockNoTerms,
            StockError::NoResults { .. } => Code::StockNoResults,
            StockError::TooLarge { .. } => Code::StockTooLarge,
            StockError::TooLong { .. } => Code::StockTooLong,
            StockError::Library(_) => Code::StockLibraryInvalid,
            StockError::Io(_) => Code::StockIo,
            StockError::Provider(e) => e.code(),
        }
    }

    /// A search with no words or no result, and a file the user chose over the limits, are
    /// the request's; a broken library, a write failure or a provider failure are not.
    fn is_client_error(&self) -> bool {
        match self {
            StockError::NoTerms
            | StockError::NoResults { .. }
            | StockError::TooLarge { .. }
            | StockError::TooLong { .. } => true,
            StockError::Provider(e) => e.is_client_error(),
            StockError::Library(_) | StockError::Io(_) => false,
        }
    }
}
