//! The proptest settings every fuzz target shares (`crates/*/tests/fuzz_*.rs` include this file
//! with `#[path]`, since they live in different crates).

use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};

/// `cases` per property in the ordinary suite, from a fixed seed so a CI run cannot fail by
/// chance; `scripts/fuzz` sets PROPTEST_CASES (or PROPTEST_RNG_SEED) and draws new ones. A
/// failure is kept beside its target (`*.proptest-regressions`) and replayed first from then on.
pub fn fuzz_config(cases: u32) -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
        if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
            config.rng_seed = RngSeed::Fixed(0x5eed);
        }
    }
    config.failure_persistence = Some(Box::new(FileFailurePersistence::WithSource(
        "proptest-regressions",
    )));
    config
}
