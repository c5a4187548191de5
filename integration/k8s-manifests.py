#!/usr/bin/env python3
"""Checks deploy/kubernetes offline and hands its CNI configs to the test suite.

  k8s-manifests.py validate DIR [K8S_VERSION]
      every built-in object validated (strict) against the Kubernetes schemas shipped with
      kubernetes-validate; every NetworkAttachmentDefinition against the k8s.cni.cncf.io/v1
      CRD's shape (apiVersion, kind, metadata.name a DNS-1123 label, spec.config a JSON string
      holding a CNI config: an object with cniVersion and type, or plugins); every pod's
      k8s.v1.cni.cncf.io/networks annotation parsed in both its forms, naming existing NADs.
  k8s-manifests.py attachments DIR
      one JSON line per (pod, network) the pods ask for, and one per NAD no pod asks for:
      {"nad", "namespace", "config", "interface", "mac", "ips", "pod"}: how Multus would call
      the plugin for it.
  k8s-manifests.py installer DIR
      the installer init container's args and its host path mount, as JSON.
  k8s-manifests.py dhcp DIR
      the dhcp DaemonSet's container command and liveness probe command, as JSON.
"""
import json
import re
import sys
from pathlib import Path

import yaml

DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
ANNOTATION = "k8s.v1.cni.cncf.io/networks"


def documents(directory):
    for path in sorted(Path(directory).rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                yield path, document


def check_nad(document):
    problems = []
    if document.get("apiVersion") != "k8s.cni.cncf.io/v1":
        problems.append("apiVersion must be k8s.cni.cncf.io/v1")
    name = document.get("metadata", {}).get("name", "")
    if not DNS1123.match(name) or len(name) > 63:
        problems.append(f"metadata.name {name!r} is not a DNS-1123 label")
    config = document.get("spec", {}).get("config")
    if not isinstance(config, str):
        problems.append("spec.config must be a string")
    else:
        try:
            parsed = json.loads(config)
        except ValueError as error:
            problems.append(f"spec.config is not JSON: {error}")
        else:
            if not isinstance(parsed, dict) or "cniVersion" not in parsed or not ("type" in parsed or "plugins" in parsed):
                problems.append("spec.config must be a CNI config object with cniVersion and type (or plugins)")
    extra = set(document) - {"apiVersion", "kind", "metadata", "spec"}
    if extra:
        problems.append(f"unexpected top-level fields {sorted(extra)}")
    return problems


def selections(pod):
    """The networks a pod asks for: dicts with name, namespace, interface, mac, ips."""
    text = pod.get("metadata", {}).get("annotations", {}).get(ANNOTATION, "").strip()
    namespace = pod.get("metadata", {}).get("namespace", "default")
    if not text:
        return []
    if text.startswith("["):
        entries = json.loads(text)
        return [{"name": e["name"], "namespace": e.get("namespace", namespace), "interface": e.get("interface"),
                 "mac": e.get("mac"), "ips": e.get("ips")} for e in entries]
    result = []
    for item in (part.strip() for part in text.split(",")):
        interface = None
        if "@" in item:
            item, interface = item.split("@", 1)
        ns, _, name = item.rpartition("/")
        result.append({"name": name, "namespace": ns or namespace, "interface": interface, "mac": None, "ips": None})
    return result


def validate(directory, version):
    import kubernetes_validate
    failures = 0
    nads = {}
    pods = []
    for path, document in documents(directory):
        kind = document.get("kind")
        label = f"{path.name}: {kind} {document.get('metadata', {}).get('name')}"
        if kind == "NetworkAttachmentDefinition":
            problems = check_nad(document)
            nads[(document["metadata"].get("namespace", "default"), document["metadata"]["name"])] = document
        else:
            try:
                kubernetes_validate.validate(document, version, strict=True)
                problems = []
            except kubernetes_validate.ValidationError as error:
                problems = [str(error.message)]
            except Exception as error:
                problems = [f"{type(error).__name__}: {error}"]
            if kind == "Pod":
                pods.append(document)
        for problem in problems:
            print(f"FAIL {label}: {problem}")
            failures += 1
        if not problems:
            print(f"ok   {label}")
    for pod in pods:
        for selection in selections(pod):
            if (selection["namespace"], selection["name"]) not in nads:
                print(f"FAIL pod {pod['metadata']['name']}: no NetworkAttachmentDefinition {selection['namespace']}/{selection['name']}")
                failures += 1
    print(f"{failures} failed, Kubernetes {version}")
    return 1 if failures else 0


def attachments(directory):
    nads = {}
    pods = []
    for _, document in documents(directory):
        if document.get("kind") == "NetworkAttachmentDefinition":
            nads[(document["metadata"].get("namespace", "default"), document["metadata"]["name"])] = document
        elif document.get("kind") == "Pod":
            pods.append(document)
    asked = set()
    for pod in pods:
        for index, selection in enumerate(selections(pod)):
            key = (selection["namespace"], selection["name"])
            asked.add(key)
            print(json.dumps({"nad": key[1], "namespace": key[0], "config": json.loads(nads[key]["spec"]["config"]),
                              "interface": selection["interface"] or f"net{index + 1}", "mac": selection["mac"],
                              "ips": selection["ips"], "pod": pod["metadata"]["name"]}))
    for key, document in sorted(nads.items()):
        if key not in asked:
            print(json.dumps({"nad": key[1], "namespace": key[0], "config": json.loads(document["spec"]["config"]),
                              "interface": "net1", "mac": None, "ips": None, "pod": "example"}))
    return 0


def installer(directory):
    for _, document in documents(directory):
        if document.get("kind") == "DaemonSet" and document["metadata"]["name"] == "swift-cni-installer":
            spec = document["spec"]["template"]["spec"]
            container = spec["initContainers"][0]
            volumes = {v["name"]: v for v in spec["volumes"]}
            mounts = [{"hostPath": volumes[m["name"]]["hostPath"]["path"], "mountPath": m["mountPath"]} for m in container["volumeMounts"]]
            print(json.dumps({"image": container["image"], "args": container.get("args", []), "mounts": mounts}))
            return 0
    return 1


def dhcp(directory):
    for _, document in documents(directory):
        if document.get("kind") == "DaemonSet" and document["metadata"]["name"] == "swift-cni-dhcp":
            container = document["spec"]["template"]["spec"]["containers"][0]
            print(json.dumps({"command": container["command"], "probe": container["livenessProbe"]["exec"]["command"]}))
            return 0
    return 1


if __name__ == "__main__":
    command, directory = sys.argv[1], sys.argv[2]
    if command == "validate":
        sys.exit(validate(directory, sys.argv[3] if len(sys.argv) > 3 else "1.34.0"))
    sys.exit({"attachments": attachments, "installer": installer, "dhcp": dhcp}[command](directory))
