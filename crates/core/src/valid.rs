//! A render spec that has been checked. The API checks a spec once, at its edge, and the CLI
//! once when it reads the file; everything past that point (pricing, the plan check, the stored
//! job, the engine) takes a [`ValidSpec`] and does not check again, because it cannot be handed
//! anything else.

use std::ops::Deref;

use serde::Serialize;

use crate::{Limits, RenderSpec, SpecError};

/// A [`RenderSpec`] that passed [`RenderSpec::validate`]. Only [`RenderSpec::validated`] makes
/// one from a request; [`ValidSpec::accepted`] reads back one that was checked when its job was
/// accepted.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ValidSpec(RenderSpec);

impl RenderSpec {
    /// Checks the spec against `limits` and marks it checked.
    pub fn validated(self, limits: &Limits) -> Result<ValidSpec, SpecError> {
        self.validate(limits)?;
        Ok(ValidSpec(self))
    }
}

impl ValidSpec {
    /// The spec of a job that was checked when it was accepted, read back from the job's
    /// record. A worker renders what was accepted and quoted, even if the operator has since
    /// changed the limits (P-BILL-4): the check belongs to the moment of acceptance.
    pub fn accepted(spec: RenderSpec) -> ValidSpec {
        ValidSpec(spec)
    }

    pub fn into_inner(self) -> RenderSpec {
        self.0
    }
}

impl Deref for ValidSpec {
    type Target = RenderSpec;

    fn deref(&self) -> &RenderSpec {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_spec_within_the_limits_becomes_valid() {
        let limits = Limits::default();
        let spec: RenderSpec = serde_json::from_str(r#"{"script": "Hello there."}"#).unwrap();
        let valid = spec.clone().validated(&limits).unwrap();
        assert_eq!(*valid, spec);
        assert_eq!(
            serde_json::to_value(&valid).unwrap(),
            serde_json::to_value(&spec).unwrap()
        );
        let empty: RenderSpec = serde_json::from_str(r#"{"script": "  "}"#).unwrap();
        assert!(matches!(
            empty.validated(&limits),
            Err(SpecError::EmptyScript)
        ));
    }
}
