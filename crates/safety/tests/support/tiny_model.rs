//! A tiny ONNX image classifier the tests write themselves (no download, no Python): two
//! classes, `unsafe` and `safe`, where `unsafe = sigmoid(10 * (mean red - (mean green + mean
//! blue) / 2))` over the whole image. A red image scores ~0.99, a grey or white one 0.5, a blue
//! or green one ~0.01; `safe` is the complement. The graph is the shape of a real classifier's
//! head: GlobalAveragePool -> Flatten -> Gemm -> Sigmoid.
//!
//! Shared by the safety, server and worker suites (`#[path]`); each needs `prost` as a
//! dev-dependency and `reelsmith_safety::classifier::onnx_pb` for the types.

use std::collections::BTreeMap;
use std::path::Path;

use prost::Message;
use reelsmith_config::ImageCheckConfig;
use reelsmith_safety::classifier::onnx_pb as pb;

/// The model's input side: small, so a check costs almost nothing in a test.
pub const SIDE: u32 = 16;

fn value_info(name: &str, dims: &[i64]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension, Dimension};
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(dimension::Value::DimValue(*d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        name: output.into(),
        input: inputs.iter().map(|s| (*s).to_owned()).collect(),
        output: vec![output.into()],
        ..Default::default()
    }
}

fn floats(name: &str, dims: &[i64], data: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: pb::tensor_proto::DataType::Float as i32,
        float_data: data.to_vec(),
        ..Default::default()
    }
}

/// The model's bytes.
pub fn model_bytes() -> Vec<u8> {
    let side = i64::from(SIDE);
    let mut flatten = node("Flatten", &["pooled"], "flat");
    flatten.attribute.push(pb::AttributeProto {
        name: "axis".into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: 1,
        ..Default::default()
    });
    let graph = pb::GraphProto {
        name: "tiny_red_classifier".into(),
        node: vec![
            node("GlobalAveragePool", &["image"], "pooled"),
            flatten,
            node("Gemm", &["flat", "weights", "bias"], "logits"),
            node("Sigmoid", &["logits"], "scores"),
        ],
        // Rows: red, green, blue; columns: unsafe, safe.
        initializer: vec![
            floats("weights", &[3, 2], &[10.0, -10.0, -5.0, 5.0, -5.0, 5.0]),
            floats("bias", &[2], &[0.0, 0.0]),
        ],
        input: vec![value_info("image", &[1, 3, side, side])],
        output: vec![value_info("scores", &[1, 2])],
        ..Default::default()
    };
    pb::ModelProto {
        ir_version: 7,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        producer_name: "reelsmith-tests".into(),
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

/// Writes the model to `path` and returns settings that use it: refused from `refuse`, held
/// from `hold` (scores of the `unsafe` class).
pub fn write_model(path: &Path, refuse: f32, hold: f32) -> ImageCheckConfig {
    std::fs::write(path, model_bytes()).unwrap();
    ImageCheckConfig {
        model: Some(path.to_path_buf()),
        input_width: SIDE,
        input_height: SIDE,
        mean: [0.0; 3],
        std: [1.0; 3],
        labels: vec!["unsafe".into(), "safe".into()],
        refuse: BTreeMap::from([("unsafe".to_owned(), refuse)]),
        hold: BTreeMap::from([("unsafe".to_owned(), hold)]),
    }
}

/// A `width` x `height` RGB image of one colour.
#[allow(dead_code)] // not every suite that includes this file paints pictures
pub fn solid(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    rgb.iter()
        .copied()
        .cycle()
        .take((width * height * 3) as usize)
        .collect()
}
