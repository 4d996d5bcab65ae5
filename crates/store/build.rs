//! `sqlx::migrate!` embeds the migration folders at compile time but cannot tell Cargo to watch
//! them on stable Rust, so a new migration file would be missing from an incremental build.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
