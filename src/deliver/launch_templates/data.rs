//! From a resolved launch spec (RunInstances parameters) to EC2 launch
//! template data (`RequestLaunchTemplateData`), and the shapes amiset can
//! send: a key or nested key outside [`SHAPE`] is refused with
//! `launch-template::unsupported-key` rather than dropped.

use serde_json::{Map, Value as Json, json};

/// The shape of a value amiset can put into launch template data.
#[derive(Debug)]
pub enum Shape {
    Str,
    Int,
    Bool,
    /// A string or a number, sent as a string (`SpotOptions.MaxPrice`).
    Price,
    Strs,
    Obj(&'static [(&'static str, Shape)]),
    List(&'static [(&'static str, Shape)]),
}

use Shape::*;

const EBS: &[(&str, Shape)] = &[
    ("DeleteOnTermination", Bool),
    ("Encrypted", Bool),
    ("Iops", Int),
    ("KmsKeyId", Str),
    ("SnapshotId", Str),
    ("Throughput", Int),
    ("VolumeSize", Int),
    ("VolumeType", Str),
];

const TAG: &[(&str, Shape)] = &[("Key", Str), ("Value", Str)];

/// Top-level keys of launch template data amiset sends, with their shapes.
pub const SHAPE: &[(&str, Shape)] = &[
    (
        "BlockDeviceMappings",
        List(&[("DeviceName", Str), ("Ebs", Obj(EBS)), ("NoDevice", Str), ("VirtualName", Str)]),
    ),
    ("CpuOptions", Obj(&[("CoreCount", Int), ("ThreadsPerCore", Int)])),
    ("CreditSpecification", Obj(&[("CpuCredits", Str)])),
    ("DisableApiStop", Bool),
    ("DisableApiTermination", Bool),
    ("EbsOptimized", Bool),
    ("EnclaveOptions", Obj(&[("Enabled", Bool)])),
    ("HibernationOptions", Obj(&[("Configured", Bool)])),
    ("IamInstanceProfile", Obj(&[("Arn", Str), ("Name", Str)])),
    ("ImageId", Str),
    ("InstanceInitiatedShutdownBehavior", Str),
    (
        "InstanceMarketOptions",
        Obj(&[
            ("MarketType", Str),
            (
                "SpotOptions",
                Obj(&[
                    ("BlockDurationMinutes", Int),
                    ("InstanceInterruptionBehavior", Str),
                    ("MaxPrice", Price),
                    ("SpotInstanceType", Str),
                ]),
            ),
        ]),
    ),
    ("InstanceType", Str),
    ("KernelId", Str),
    ("KeyName", Str),
    (
        "MetadataOptions",
        Obj(&[
            ("HttpEndpoint", Str),
            ("HttpProtocolIpv6", Str),
            ("HttpPutResponseHopLimit", Int),
            ("HttpTokens", Str),
            ("InstanceMetadataTags", Str),
        ]),
    ),
    ("Monitoring", Obj(&[("Enabled", Bool)])),
    (
        "NetworkInterfaces",
        List(&[
            ("AssociatePublicIpAddress", Bool),
            ("DeleteOnTermination", Bool),
            ("Description", Str),
            ("DeviceIndex", Int),
            ("Groups", Strs),
            ("Ipv6AddressCount", Int),
            ("NetworkInterfaceId", Str),
            ("PrivateIpAddress", Str),
            ("SubnetId", Str),
        ]),
    ),
    (
        "Placement",
        Obj(&[
            ("AvailabilityZone", Str),
            ("GroupName", Str),
            ("HostId", Str),
            ("PartitionNumber", Int),
            ("Tenancy", Str),
        ]),
    ),
    ("RamdiskId", Str),
    ("SecurityGroupIds", Strs),
    ("SecurityGroups", Strs),
    ("TagSpecifications", List(&[("ResourceType", Str), ("Tags", List(TAG))])),
];

/// RunInstances parameters that launch template data puts on the primary network interface.
const INTERFACE_KEYS: [&str; 3] = ["SubnetId", "PrivateIpAddress", "Ipv6AddressCount"];

/// The tag that marks what amiset manages, on templates and on the instances they launch.
pub const WORKER_TYPE_TAG: &str = "amiset:worker-type";

/// Launch template data for a resolved launch spec: RunInstances' network
/// keys move to the primary network interface (with the security groups),
/// `InstanceType` is dropped when the template serves several instance types,
/// and instances are tagged `amiset:worker-type = <worker>`.
pub fn template_data(spec: &Map<String, Json>, worker: &str, keep_instance_type: bool) -> Map<String, Json> {
    let mut data = spec.clone();
    if !keep_instance_type {
        data.remove("InstanceType");
    }
    let moved: Vec<(&str, Json)> = INTERFACE_KEYS.iter().filter_map(|k| data.remove(*k).map(|v| (*k, v))).collect();
    if !moved.is_empty() {
        let mut interface = Map::new();
        interface.insert("DeviceIndex".into(), json!(0));
        for (k, v) in moved {
            interface.insert(k.into(), v);
        }
        if let Some(groups) = data.remove("SecurityGroupIds") {
            interface.insert("Groups".into(), groups);
        }
        data.insert("NetworkInterfaces".into(), Json::Array(vec![Json::Object(interface)]));
    }
    let tag = json!({"Key": WORKER_TYPE_TAG, "Value": worker});
    let specs = data.entry("TagSpecifications").or_insert_with(|| json!([]));
    if let Json::Array(items) = specs {
        let instance = items
            .iter_mut()
            .find(|s| s.get("ResourceType").and_then(Json::as_str) == Some("instance"));
        match instance {
            Some(Json::Object(s)) => {
                let tags = s.entry("Tags").or_insert_with(|| json!([]));
                if let Json::Array(tags) = tags {
                    tags.retain(|t| t.get("Key").and_then(Json::as_str) != Some(WORKER_TYPE_TAG));
                    tags.push(tag);
                }
            }
            _ => items.push(json!({"ResourceType": "instance", "Tags": [tag]})),
        }
    }
    data
}

/// Paths (`Placement.Affinity`, `AdditionalInfo`) of launch template data
/// that amiset cannot send, in order.
pub fn unsupported(data: &Map<String, Json>) -> Vec<String> {
    let mut out = Vec::new();
    check_object(data, SHAPE, "", &mut out);
    out.sort();
    out
}

fn check_object(map: &Map<String, Json>, shape: &[(&str, Shape)], prefix: &str, out: &mut Vec<String>) {
    for (key, value) in map {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match shape.iter().find(|(k, _)| k == key) {
            Some((_, s)) => check_value(value, s, &path, out),
            None => out.push(path),
        }
    }
}

fn check_value(value: &Json, shape: &Shape, path: &str, out: &mut Vec<String>) {
    let ok = match (shape, value) {
        (Str, Json::String(_)) | (Bool, Json::Bool(_)) | (Price, Json::String(_) | Json::Number(_)) => true,
        (Int, Json::Number(n)) => n.is_i64(),
        (Strs, Json::Array(items)) => items.iter().all(Json::is_string),
        (Obj(fields), Json::Object(map)) => {
            check_object(map, fields, path, out);
            true
        }
        (List(fields), Json::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match item {
                    Json::Object(map) => check_object(map, fields, &format!("{path}[{i}]"), out),
                    _ => out.push(format!("{path}[{i}]")),
                }
            }
            true
        }
        _ => false,
    };
    if !ok {
        out.push(path.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Json) -> Map<String, Json> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn subnet_and_groups_move_to_the_primary_interface_and_instances_get_the_tag() {
        let spec = obj(json!({"ImageId": "ami-1", "InstanceType": "m5.large", "SubnetId": "subnet-1",
            "SecurityGroupIds": ["sg-1"], "EbsOptimized": true}));
        let data = template_data(&spec, "linux", false);
        assert_eq!(
            Json::Object(data),
            json!({"ImageId": "ami-1", "EbsOptimized": true,
                "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": "subnet-1", "Groups": ["sg-1"]}],
                "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "amiset:worker-type", "Value": "linux"}]}]})
        );
    }

    #[test]
    fn an_existing_instance_tag_specification_gains_the_tag_once() {
        let spec = obj(json!({"ImageId": "ami-1", "TagSpecifications": [{"ResourceType": "instance",
            "Tags": [{"Key": "team", "Value": "ci"}, {"Key": "amiset:worker-type", "Value": "forged"}]}]}));
        let data = template_data(&spec, "linux", true);
        assert_eq!(
            data["TagSpecifications"],
            json!([{"ResourceType": "instance", "Tags": [{"Key": "team", "Value": "ci"}, {"Key": "amiset:worker-type", "Value": "linux"}]}])
        );
    }

    #[test]
    fn keys_outside_the_shape_are_reported_by_path() {
        let data = obj(
            json!({"ImageId": "ami-1", "AdditionalInfo": "x", "Placement": {"AvailabilityZone": "a", "Affinity": "b"},
            "BlockDeviceMappings": [{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8, "Bogus": 1}}], "EbsOptimized": "yes"}),
        );
        assert_eq!(
            unsupported(&data),
            [
                "AdditionalInfo",
                "BlockDeviceMappings[0].Ebs.Bogus",
                "EbsOptimized",
                "Placement.Affinity"
            ]
        );
    }
}
