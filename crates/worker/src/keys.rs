//! Where a job's outputs live in media storage. The keys depend only on the job and revision, so
//! a retried or taken-over job overwrites its earlier attempt's objects instead of orphaning them.

/// The outputs of one render, in the order they are stored.
pub const OUTPUT_FILES: [&str; 4] = ["video.mp4", "poster.jpg", "captions.vtt", "captions.srt"];

/// Everything of one job lives under this prefix.
pub fn job_prefix(job_id: &str) -> String {
    format!("jobs/{job_id}")
}

/// `jobs/{job_id}/r{revision}/{file}`.
pub fn output_key(job_id: &str, revision: i64, file: &str) -> String {
    format!("{}/r{revision}/{file}", job_prefix(job_id))
}

/// The four output keys of one revision, in [`OUTPUT_FILES`] order.
pub fn output_keys(job_id: &str, revision: i64) -> Vec<String> {
    OUTPUT_FILES
        .iter()
        .map(|file| output_key(job_id, revision, file))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_per_job_and_revision() {
        assert_eq!(
            output_keys("j1", 2),
            vec![
                "jobs/j1/r2/video.mp4",
                "jobs/j1/r2/poster.jpg",
                "jobs/j1/r2/captions.vtt",
                "jobs/j1/r2/captions.srt"
            ]
        );
        assert_eq!(output_keys("j1", 2), output_keys("j1", 2));
        assert_ne!(output_keys("j1", 1), output_keys("j1", 2));
    }
}
