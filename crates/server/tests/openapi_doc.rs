//! The OpenAPI document is a valid OpenAPI 3.1 document (checked by `openapi-spec-validator`,
//! installed by `scripts/setup --test`), and every JSON request and answer has a real schema
//! derived from the types, not a bare `{"type": "object"}`.

use std::process::Command;

use serde_json::Value;

/// The document as `/api/openapi.json` serves it (every part merged).
fn document() -> Value {
    serde_json::to_value(reelsmith_server::openapi::document()).expect("the document serializes")
}

#[test]
fn the_document_passes_an_openapi_validator() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&document()).unwrap()).unwrap();
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys\nfrom openapi_spec_validator import validate\nvalidate(json.load(open(sys.argv[1])))\nprint('valid')",
        ])
        .arg(&file)
        .output()
        .expect("python3 is installed");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("valid"),
        "the OpenAPI document is not valid (or openapi-spec-validator is missing: scripts/setup --test):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A schema that says nothing about its shape.
fn is_bare(schema: &Value) -> bool {
    schema.get("$ref").is_none()
        && schema.get("properties").is_none()
        && schema.get("items").is_none()
        && schema.get("oneOf").is_none()
        && schema.get("allOf").is_none()
        && schema.get("anyOf").is_none()
        && schema.get("type").and_then(Value::as_str) == Some("object")
}

#[test]
fn every_json_request_and_answer_has_a_real_schema() {
    let doc = document();
    let mut bare = Vec::new();
    let mut untyped = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if let Some(content) = op["requestBody"]["content"].as_object() {
                for (media, body) in content {
                    if body.get("schema").is_none_or(is_bare) {
                        bare.push(format!("{method} {path} request ({media})"));
                    }
                }
            }
            for (status, answer) in op["responses"].as_object().unwrap() {
                let Some(content) = answer["content"].as_object() else {
                    // 2xx answers other than 204 and redirects carry a body: say what it is.
                    if status.starts_with('2') && status != "204" {
                        untyped.push(format!("{method} {path} {status}"));
                    }
                    continue;
                };
                for (media, body) in content {
                    if media.contains("json") && body.get("schema").is_none_or(is_bare) {
                        bare.push(format!("{method} {path} {status} ({media})"));
                    }
                }
            }
        }
    }
    assert!(bare.is_empty(), "bare object schemas: {bare:#?}");
    assert!(
        untyped.is_empty(),
        "answers without a content type: {untyped:#?}"
    );
}

#[test]
fn job_submission_documents_its_spec_and_its_402_and_409_answers() {
    let doc = document();
    let op = &doc["paths"]["/api/v1/jobs"]["post"];
    let schema = &op["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(schema["$ref"], "#/components/schemas/RenderSpec", "{op:#}");
    let spec = &doc["components"]["schemas"]["RenderSpec"];
    for field in [
        "script",
        "media",
        "voice",
        "resolution",
        "aspect",
        "provider",
        "prompts",
    ] {
        assert!(
            spec["properties"].get(field).is_some(),
            "RenderSpec lacks `{field}`: {spec:#}"
        );
    }
    assert_eq!(spec["required"], serde_json::json!(["script"]), "{spec:#}");
    for status in ["201", "402", "409", "422", "429"] {
        assert!(
            op["responses"].get(status).is_some(),
            "POST /api/v1/jobs does not document {status}"
        );
    }
    let resolution = &doc["components"]["schemas"]["Resolution"];
    assert!(resolution.to_string().contains("480p"), "{resolution:#}");
}

#[test]
fn operation_ids_are_unique_and_the_webhook_routes_are_documented() {
    let doc = document();
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            assert!(!id.is_empty(), "{method} {path} has no operationId");
            assert!(
                ids.insert(id.clone()),
                "{method} {path}: operationId {id} used twice"
            );
        }
    }
    let created = &doc["paths"]["/api/v1/tokens/{id}/webhooks"]["post"]["responses"]["201"];
    assert_eq!(
        created["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/CreatedWebhook",
        "{created:#}"
    );
    let upload = &doc["paths"]["/api/v1/uploads"]["post"]["requestBody"]["content"]
        ["multipart/form-data"]["schema"];
    assert!(upload.to_string().contains("UploadForm"), "{upload:#}");
}
