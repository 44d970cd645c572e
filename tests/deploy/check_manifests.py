#!/usr/bin/env python3
"""Renders every overlay under deploy/k8s/overlays with `kubectl kustomize` and checks the
invariants a real cluster depends on but no cluster is here to prove (docs/deploy.md, "What CI
checks"). Exit 0 when every overlay passes; otherwise one line per violation, naming the overlay
and the object.

  check_manifests.py [--kubectl PATH] [--self-test] REPO_ROOT

--self-test also breaks a rendered overlay in each way a check exists for and demands that the
check notices, so a check that cannot fail fails the test.
"""
import argparse
import copy
import os
import re
import subprocess
import sys

import yaml

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
SECRET_ENV = re.compile(r"(PASSWORD|SECRET|TOKEN|API_KEYS$|CREDENTIAL)", re.I)
API_CONTAINER, WORKER_CONTAINER = "api", "worker"
WORKER_GROUP = "workers"  # the consumer group evo2-worker reads (services/common/job_keys.h)
# A reference name as evo2-worker accepts it (services/common/reference_registry.h).
REFERENCE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}$")
# After the drain timeout the worker aborts the record and releases the job (one Redis script);
# the grace period must leave at least this much on top.
WORKER_RELEASE_MARGIN_S = 30
# evo2-api: after the drain grace period, the server stops within 10 s (api_main.cc).
API_SHUTDOWN_S = 10


def render(kubectl, path):
    out = subprocess.run([kubectl, "kustomize", path], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {path} failed: {out.stderr.strip()}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def key(obj):
    return f"{obj['kind']}/{obj['metadata']['name']}"


def pod_spec(obj):
    spec = obj.get("spec", {})
    if obj["kind"] == "Job":
        return spec.get("template", {}).get("spec", {})
    return spec.get("template", {}).get("spec", {})


def pod_labels(obj):
    return obj.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {}) or {}


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def effective_env(container, objs):
    """The container's environment: envFrom ConfigMaps of the render, then env values."""
    env = {}
    cms = {o["metadata"]["name"]: o for o in objs if o["kind"] == "ConfigMap"}
    for src in container.get("envFrom", []) or []:
        ref = src.get("configMapRef")
        if ref and ref["name"] in cms:
            env.update(cms[ref["name"]].get("data", {}) or {})
    for e in container.get("env", []) or []:
        if "value" in e:
            env[e["name"]] = str(e["value"])
    return env


def quantity(v):
    return int(str(v)) if v is not None else 0


class Checker:
    def __init__(self, name, objs, operator_created, deploy_doc):
        self.name, self.objs = name, objs
        self.operator_created, self.deploy_doc = operator_created, deploy_doc
        self.errors = []

    def err(self, obj, msg):
        self.errors.append(f"{self.name}: {key(obj) if obj else '-'}: {msg}")

    def by_kind(self, *kinds):
        return [o for o in self.objs if o["kind"] in kinds]

    def exists(self, kind, name):
        return any(o["kind"] == kind and o["metadata"]["name"] == name for o in self.objs)

    def workload(self, name):
        for o in self.by_kind("Deployment"):
            if o["metadata"]["name"] == name:
                return o
        return None

    def container(self, obj, name):
        for c in pod_spec(obj).get("containers", []):
            if c["name"] == name:
                return c
        return None

    def run(self):
        for check in (self.check_workloads, self.check_no_inline_secrets, self.check_references,
                      self.check_selectors, self.check_worker, self.check_api, self.check_keda,
                      self.check_models, self.check_references_mounted, self.check_redis,
                      self.check_results_store):
            check()
        return self.errors

    # Probes, resources, non-root, pinned images.
    def check_workloads(self):
        for o in self.by_kind(*WORKLOADS):
            ps = pod_spec(o)
            psc = ps.get("securityContext", {}) or {}
            if psc.get("runAsNonRoot") is not True:
                self.err(o, "pod securityContext.runAsNonRoot is not true")
            if psc.get("runAsUser", 1) == 0:
                self.err(o, "pod runs as uid 0")
            for c in ps.get("containers", []):
                cn = f"container {c['name']}"
                for probe in ("readinessProbe", "livenessProbe"):
                    if not c.get(probe):
                        self.err(o, f"{cn} has no {probe}")
                res = c.get("resources", {}) or {}
                for r in ("cpu", "memory"):
                    if r not in (res.get("requests") or {}):
                        self.err(o, f"{cn} requests no {r}")
                if "memory" not in (res.get("limits") or {}):
                    self.err(o, f"{cn} has no memory limit")
                csc = c.get("securityContext", {}) or {}
                if csc.get("allowPrivilegeEscalation") is not False:
                    self.err(o, f"{cn} allows privilege escalation")
                if csc.get("runAsUser", 1) == 0:
                    self.err(o, f"{cn} runs as uid 0")
                if "@sha256:" not in c.get("image", ""):
                    self.err(o, f"{cn} image {c.get('image')!r} is not pinned by digest")

    # Credentials never in the manifests: no Secret objects, no literal secret-looking env values
    # or ConfigMap keys.
    def check_no_inline_secrets(self):
        for o in self.by_kind("Secret"):
            self.err(o, "a Secret with its values in the manifests (create it as docs/deploy.md "
                        "says, or list it in deploy/k8s/operator-created.txt)")
        for o in self.by_kind("ConfigMap"):
            for k in (o.get("data") or {}):
                if SECRET_ENV.search(k):
                    self.err(o, f"ConfigMap key {k} looks like a credential")
        for o in self.by_kind(*WORKLOADS):
            for c in pod_spec(o).get("containers", []):
                for e in c.get("env", []) or []:
                    if SECRET_ENV.search(e["name"]) and "value" in e and "FILE" not in e["name"]:
                        self.err(o, f"env {e['name']} carries a literal value; use secretKeyRef")
                for a in (c.get("args") or []) + (c.get("command") or []):
                    if "requirepass" in str(a) and "--requirepass" in str(a):
                        self.err(o, "a password on the command line (--requirepass)")

    def ref_ok(self, kind, name):
        if self.exists(kind, name):
            return True
        return f"{kind}/{name}" in self.operator_created

    # Every PVC, Secret and ConfigMap a pod or KEDA object uses exists or is operator-created
    # (and then docs/deploy.md says how to create it).
    def check_references(self):
        for o in self.by_kind(*WORKLOADS):
            ps = pod_spec(o)
            templates = {t["metadata"]["name"] for t in o.get("spec", {}).get(
                "volumeClaimTemplates", []) or []}
            for v in ps.get("volumes", []) or []:
                if "persistentVolumeClaim" in v:
                    n = v["persistentVolumeClaim"]["claimName"]
                    if not self.exists("PersistentVolumeClaim", n) and n not in templates:
                        self.err(o, f"volume {v['name']}: PersistentVolumeClaim {n} is not defined")
                if "secret" in v and not self.ref_ok("Secret", v["secret"]["secretName"]):
                    self.err(o, f"volume {v['name']}: Secret {v['secret']['secretName']} missing")
                if "configMap" in v and not self.exists("ConfigMap", v["configMap"]["name"]):
                    self.err(o, f"volume {v['name']}: ConfigMap {v['configMap']['name']} missing")
            for c in ps.get("containers", []) + (ps.get("initContainers") or []):
                for src in c.get("envFrom", []) or []:
                    if "configMapRef" in src and not self.exists("ConfigMap",
                                                                  src["configMapRef"]["name"]):
                        self.err(o, f"envFrom ConfigMap {src['configMapRef']['name']} missing")
                    if "secretRef" in src and not self.ref_ok("Secret", src["secretRef"]["name"]):
                        self.err(o, f"envFrom Secret {src['secretRef']['name']} missing")
                for e in c.get("env", []) or []:
                    vf = e.get("valueFrom", {}) or {}
                    if "secretKeyRef" in vf and not self.ref_ok("Secret", vf["secretKeyRef"]["name"]):
                        self.err(o, f"env {e['name']}: Secret {vf['secretKeyRef']['name']} missing")
                    if "configMapKeyRef" in vf and not self.exists(
                            "ConfigMap", vf["configMapKeyRef"]["name"]):
                        self.err(o, f"env {e['name']}: ConfigMap missing")
        for o in self.by_kind("TriggerAuthentication"):
            for ref in o["spec"].get("secretTargetRef", []) or []:
                if not self.ref_ok("Secret", ref["name"]):
                    self.err(o, f"Secret {ref['name']} missing")
        for o in self.by_kind("Ingress"):
            for t in o["spec"].get("tls", []) or []:
                if not self.ref_ok("Secret", t["secretName"]):
                    self.err(o, f"TLS Secret {t['secretName']} missing")
        for entry in sorted(self.operator_created):
            name = entry.split("/", 1)[1]
            if not re.search(rf"kubectl\b[^\n]*\bcreate\b[^\n]*\b{re.escape(name)}\b",
                             self.deploy_doc):
                self.err(None, f"{entry} is operator-created but docs/deploy.md has no "
                               f"`kubectl ... create ... {name}` line")

    # Selectors: workloads select their own pods; Services, PDBs, NetworkPolicies and monitors
    # select something; Service target ports exist on the selected pods.
    def check_selectors(self):
        pods = [(o, pod_labels(o)) for o in self.by_kind(*WORKLOADS)]
        for o, labels in pods:
            sel = (o.get("spec", {}).get("selector", {}) or {}).get("matchLabels")
            if o["kind"] != "Job" and not matches(sel, labels):
                self.err(o, f"selector {sel} does not match its pod labels {labels}")
        for o in self.by_kind("Service"):
            sel = o["spec"].get("selector")
            hits = [w for w, labels in pods if matches(sel, labels)]
            if not hits:
                self.err(o, f"selector {sel} matches no pod")
            for p in o["spec"].get("ports", []):
                tp = p.get("targetPort", p["port"])
                for w in hits:
                    names = {cp.get("name") for c in pod_spec(w)["containers"]
                             for cp in c.get("ports", [])}
                    nums = {cp["containerPort"] for c in pod_spec(w)["containers"]
                            for cp in c.get("ports", [])}
                    if tp not in names and tp not in nums:
                        self.err(o, f"port {p.get('name')}: target {tp} not on {key(w)}")
        for o in self.by_kind("PodDisruptionBudget", "NetworkPolicy", "PodMonitor"):
            spec = o["spec"]
            sel = (spec.get("podSelector") or spec.get("selector") or {}).get("matchLabels")
            if not any(matches(sel, labels) for _, labels in pods):
                self.err(o, f"selector {sel} matches no pod")
        for o in self.by_kind("ServiceMonitor"):
            sel = o["spec"]["selector"].get("matchLabels")
            if not any(matches(sel, s["metadata"].get("labels", {}) or {})
                       for s in self.by_kind("Service")):
                self.err(o, f"selector {sel} matches no Service")

    # The GPU worker: nvidia.com/gpu = TP x CP, drain timeout inside the grace period.
    def check_worker(self):
        w = self.workload("evo2-worker")
        if w is None:
            self.err(None, "no Deployment evo2-worker")
            return
        c = self.container(w, WORKER_CONTAINER)
        env = effective_env(c, self.objs)
        for required in ("EVO2_MODEL_NAME", "EVO2_CHECKPOINT", "EVO2_DEVICE",
                         "EVO2_WORKER_HEALTH_DIR", "EVO2_WORKER_DRAIN_TIMEOUT_MS"):
            if required not in env:
                self.err(w, f"worker environment lacks {required}")
        tp = int(env.get("EVO2_TENSOR_PARALLEL_SIZE", "1"))
        cp = int(env.get("EVO2_CONTEXT_PARALLEL_SIZE", "1"))
        limits = (c.get("resources") or {}).get("limits") or {}
        requests = (c.get("resources") or {}).get("requests") or {}
        gpus = quantity(limits.get("nvidia.com/gpu"))
        want = tp * cp if env.get("EVO2_DEVICE", "cpu") == "cuda" else 0
        if gpus != want:
            self.err(w, f"nvidia.com/gpu limit {gpus} != {want} (device "
                        f"{env.get('EVO2_DEVICE')}, TP {tp} x CP {cp})")
        if "nvidia.com/gpu" in requests and quantity(requests["nvidia.com/gpu"]) != gpus:
            self.err(w, "nvidia.com/gpu request differs from the limit")
        grace = pod_spec(w).get("terminationGracePeriodSeconds", 30)
        drain_s = int(env.get("EVO2_WORKER_DRAIN_TIMEOUT_MS", "0")) / 1000
        if grace < drain_s + WORKER_RELEASE_MARGIN_S:
            self.err(w, f"terminationGracePeriodSeconds {grace} < drain timeout {drain_s:g} s + "
                        f"{WORKER_RELEASE_MARGIN_S} s to release the job")
        hdir = env.get("EVO2_WORKER_HEALTH_DIR", "")
        for probe in ("readinessProbe", "livenessProbe"):
            cmd = " ".join(((c.get(probe) or {}).get("exec") or {}).get("command", []))
            if not hdir or hdir not in cmd:
                self.err(w, f"{probe} does not read the worker's health dir {hdir!r}")
        mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
        if hdir and hdir not in mounts:
            self.err(w, f"health dir {hdir} is not a mounted volume (read-only root)")

    def check_api(self):
        a = self.workload("evo2-api")
        if a is None:
            self.err(None, "no Deployment evo2-api")
            return
        c = self.container(a, API_CONTAINER)
        env = effective_env(c, self.objs)
        grace = pod_spec(a).get("terminationGracePeriodSeconds", 30)
        drain_s = int(env.get("EVO2_API_DRAIN_GRACE_MS", "5000")) / 1000
        if grace <= drain_s + API_SHUTDOWN_S:
            self.err(a, f"terminationGracePeriodSeconds {grace} <= drain grace {drain_s:g} s + "
                        f"{API_SHUTDOWN_S} s shutdown")
        for probe in ("readinessProbe", "livenessProbe"):
            if "grpc" not in (c.get(probe) or {}):
                self.err(a, f"{probe} is not a gRPC health probe")

    # KEDA: the trigger reads the active-work stream of the model the worker serves, on the Redis
    # the worker uses; every served model has a worker.
    def check_keda(self):
        w = self.workload("evo2-worker")
        a = self.workload("evo2-api")
        if w is None or a is None:
            return
        wenv = effective_env(self.container(w, WORKER_CONTAINER), self.objs)
        aenv = effective_env(self.container(a, API_CONTAINER), self.objs)
        model = wenv.get("EVO2_MODEL_NAME", "")
        prefix = wenv.get("EVO2_KEY_PREFIX", "evo2:")
        api_models = [s.split("=", 1)[0] for s in aenv.get("EVO2_API_MODELS", "").split(";") if s]
        if model not in api_models:
            self.err(w, f"serves model {model!r}, which the API does not offer ({api_models})")
        for m in api_models:
            if m != model:
                self.err(a, f"offers model {m!r} but no worker Deployment serves it")
        if aenv.get("EVO2_KEY_PREFIX") != wenv.get("EVO2_KEY_PREFIX"):
            self.err(w, "API and worker use different EVO2_KEY_PREFIX")
        redis_url = wenv.get("EVO2_REDIS_URL", "")
        m = re.match(r"redis://(?:[^@]*@)?([^/:]+)(?::(\d+))?", redis_url)
        redis_host, redis_port = (m.group(1), m.group(2) or "6379") if m else ("", "")
        for o in self.by_kind("ScaledObject"):
            target = o["spec"]["scaleTargetRef"]["name"]
            if self.workload(target) is None:
                self.err(o, f"scaleTargetRef {target} is not a Deployment of the render")
            if target != "evo2-worker":
                continue
            for t in o["spec"]["triggers"]:
                md = t.get("metadata", {})
                want = f"{prefix}q:{model}:active"
                if t["type"] != "redis-streams" or md.get("stream") != want:
                    self.err(o, f"trigger reads {md.get('stream')!r}; the worker's active-work "
                                f"stream is {want!r}")
                if md.get("consumerGroup") not in (None, WORKER_GROUP):
                    self.err(o, f"consumerGroup {md.get('consumerGroup')!r} is not the worker "
                                f"group {WORKER_GROUP!r}")
                if "lagCount" in md or "consumerGroup" in md or md.get("streamLength") != "1":
                    self.err(o, "trigger must scale on the stream length with target 1 "
                                "(queued + running jobs, one per pod)")
                addr = md.get("address", "")
                host = addr.split(":")[0].split(".")[0] if redis_host.count(".") == 0 else \
                    addr.split(":")[0]
                if host != redis_host or not addr.endswith(":" + redis_port):
                    self.err(o, f"trigger address {addr!r} is not the workers' Redis "
                                f"{redis_host}:{redis_port}")

    # Models are mounted (read-only), never baked into the image.
    def check_models(self):
        w = self.workload("evo2-worker")
        if w is None:
            return
        c = self.container(w, WORKER_CONTAINER)
        ckpt = effective_env(c, self.objs).get("EVO2_CHECKPOINT", "")
        vols = {v["name"]: v for v in pod_spec(w).get("volumes", [])}
        ok = False
        for mnt in c.get("volumeMounts", []):
            if ckpt.startswith(mnt["mountPath"].rstrip("/") + "/"):
                ok = "persistentVolumeClaim" in vols.get(mnt["name"], {}) and mnt.get("readOnly")
        if not ok:
            self.err(w, f"checkpoint {ckpt!r} is not on a read-only PersistentVolumeClaim mount")

    # Reference genomes for variant jobs (EVO2_REFERENCES, NAME=PATH pairs comma-separated):
    # each file is on a read-only PersistentVolumeClaim mount of the worker (the models volume),
    # so that a reference the worker is told about exists in every pod that gets the config (the
    # worker exits at start on a file it cannot open) and no pod can change what another scores
    # against. Not on an emptyDir (empty in a new pod) nor on the results volume (read-write).
    def check_references_mounted(self):
        w = self.workload("evo2-worker")
        if w is None:
            return
        c = self.container(w, WORKER_CONTAINER)
        refs = effective_env(c, self.objs).get("EVO2_REFERENCES", "")
        vols = {v["name"]: v for v in pod_spec(w).get("volumes", [])}
        names = set()
        for spec in (s for s in refs.split(",") if s.strip()):
            name, _, path = spec.partition("=")
            if not REFERENCE_NAME.match(name) or not path.startswith("/"):
                self.err(w, f"EVO2_REFERENCES entry {spec!r} is not NAME=/absolute/path with "
                            "NAME of 1..64 [A-Za-z0-9._-]")
                continue
            if name in names:
                self.err(w, f"EVO2_REFERENCES names {name!r} twice")
            names.add(name)
            norm = os.path.normpath(path)
            mnt = next((m for m in c.get("volumeMounts", [])
                        if norm.startswith(m["mountPath"].rstrip("/") + "/")), None)
            if mnt is None or "persistentVolumeClaim" not in vols.get(mnt["name"], {}) or \
                    not mnt.get("readOnly") or mnt.get("subPath"):
                self.err(w, f"reference {name} at {path!r} is not on a read-only "
                            "PersistentVolumeClaim mount of the worker")

    # The results store is one volume, mounted read-write at EVO2_RESULTS_DIR by the API and the
    # workers (the API streams what the workers wrote).
    def check_results_store(self):
        claims = {}
        for name, cname in (("evo2-api", API_CONTAINER), ("evo2-worker", WORKER_CONTAINER)):
            w = self.workload(name)
            if w is None:
                return
            c = self.container(w, cname)
            rdir = effective_env(c, self.objs).get("EVO2_RESULTS_DIR", "")
            vols = {v["name"]: v for v in pod_spec(w).get("volumes", [])}
            mnt = next((m for m in c.get("volumeMounts", []) if m["mountPath"] == rdir), None)
            claim = ((vols.get(mnt["name"], {}) if mnt else {}).get("persistentVolumeClaim")
                     or {}).get("claimName")
            if not rdir or not claim or (mnt or {}).get("readOnly"):
                self.err(w, f"results dir {rdir!r} is not a read-write PersistentVolumeClaim mount")
            claims[name] = (rdir, claim)
        if len(set(claims.values())) > 1:
            self.err(None, f"API and workers see different results stores: {claims}")

    # In-cluster Redis: bounded memory under the container limit, durable, probed.
    def check_redis(self):
        for o in self.by_kind("StatefulSet"):
            if o["metadata"]["name"] != "evo2-redis":
                continue
            conf = ""
            for cm in self.by_kind("ConfigMap"):
                conf += "\n".join((cm.get("data") or {}).get("redis.conf", "").splitlines()) + "\n"
            mm = re.search(r"^maxmemory\s+(\d+)gb\s*$", conf, re.M)
            limit = (self.container(o, "redis").get("resources", {}).get("limits", {}) or {}).get(
                "memory", "")
            lm = re.match(r"(\d+)Gi$", str(limit))
            if not mm or not lm or int(mm.group(1)) * 1e9 >= 0.8 * int(lm.group(1)) * 2**30:
                self.err(o, f"maxmemory ({mm.group(0) if mm else 'unset'}) must stay under 80 % "
                            f"of the memory limit {limit!r} (an AOF rewrite forks)")
            for line in ("appendonly yes", "appendfsync always", "maxmemory-policy noeviction"):
                if not re.search(rf"^{line}\s*$", conf, re.M):
                    self.err(o, f"redis.conf lacks '{line}'")


def check_overlay(name, objs, operator_created, deploy_doc):
    return Checker(name, objs, operator_created, deploy_doc).run()


def find(objs, kind, name):
    return next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name)


def container_of(objs, deploy, cname):
    return next(c for c in pod_spec(find(objs, "Deployment", deploy))["containers"]
                if c["name"] == cname)


def mutations():
    """(what, function breaking a rendered overlay) pairs; each must produce an error."""
    def drop_pvc(o):
        o[:] = [x for x in o if x["kind"] != "PersistentVolumeClaim"]

    def add_secret(o):
        o.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "evo2-redis"},
                  "stringData": {"password": "change-me"}})

    def literal_password(o):
        c = container_of(o, "evo2-api", "api")
        c["env"] = [{"name": "EVO2_REDIS_PASSWORD", "value": "change-me"}]

    def two_gpus(o):
        c = container_of(o, "evo2-worker", "worker")
        c["resources"]["limits"]["nvidia.com/gpu"] = 2

    def cuda_without_gpu(o):
        c = container_of(o, "evo2-worker", "worker")
        c["resources"]["limits"].pop("nvidia.com/gpu", None)
        c["env"].append({"name": "EVO2_DEVICE", "value": "cuda"})
        c["env"].append({"name": "EVO2_TENSOR_PARALLEL_SIZE", "value": "2"})

    def no_probe(o):
        container_of(o, "evo2-worker", "worker").pop("livenessProbe")

    def tcp_probe(o):
        container_of(o, "evo2-worker", "worker")["readinessProbe"] = {"tcpSocket": {"port": 9465}}

    def no_limits(o):
        container_of(o, "evo2-api", "api")["resources"].pop("limits")

    def root(o):
        pod_spec(find(o, "Deployment", "evo2-api"))["securityContext"]["runAsNonRoot"] = False

    def tag_image(o):
        container_of(o, "evo2-api", "api")["image"] = "evo2-api:latest"

    def short_grace(o):
        pod_spec(find(o, "Deployment", "evo2-worker"))["terminationGracePeriodSeconds"] = 30

    def api_short_grace(o):
        pod_spec(find(o, "Deployment", "evo2-api"))["terminationGracePeriodSeconds"] = 12

    def bad_selector(o):
        find(o, "Service", "evo2-api")["spec"]["selector"] = {"app.kubernetes.io/name": "x"}

    def unknown_secret(o):
        c = container_of(o, "evo2-worker", "worker")
        c["env"].append({"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}})

    def lag_trigger(o):
        for so in (x for x in o if x["kind"] == "ScaledObject"):
            so["spec"]["triggers"][0]["metadata"] = {
                "address": so["spec"]["triggers"][0]["metadata"]["address"],
                "stream": "evo2:q:evo2_7b:normal", "consumerGroup": "workers", "lagCount": "4"}

    def other_model(o):
        c = container_of(o, "evo2-worker", "worker")
        c["env"].append({"name": "EVO2_MODEL_NAME", "value": "evo2_40b"})

    def baked_model(o):
        c = container_of(o, "evo2-worker", "worker")
        c["env"].append({"name": "EVO2_CHECKPOINT", "value": "/opt/models/evo2_7b"})

    def redis_unbounded(o):
        for cm in (x for x in o if x["kind"] == "ConfigMap" and "redis.conf" in
                   (x.get("data") or {})):
            cm["data"]["redis.conf"] = cm["data"]["redis.conf"].replace("maxmemory 5gb", "")

    def api_without_results(o):
        c = container_of(o, "evo2-api", "api")
        c["volumeMounts"] = [m for m in c["volumeMounts"] if m["mountPath"] != "/results"]

    def reference_off_volume(o):
        c = container_of(o, "evo2-worker", "worker")
        c["env"].append({"name": "EVO2_REFERENCES", "value": "grch38=/opt/refs/GRCh38.fa.gz"})

    def reference_escapes_volume(o):
        c = container_of(o, "evo2-worker", "worker")
        c["env"].append({"name": "EVO2_REFERENCES",
                         "value": "ok=/models/references/a.fa,grch38=/models/../etc/GRCh38.fa"})

    def reference_malformed(o):
        c = container_of(o, "evo2-worker", "worker")
        c["env"].append({"name": "EVO2_REFERENCES", "value": "/models/references/GRCh38.fa.gz"})

    def reference_on_empty_dir(o):
        c = container_of(o, "evo2-worker", "worker")
        c["env"].append({"name": "EVO2_REFERENCES", "value": "grch38=/run/evo2/GRCh38.fa.gz"})

    def reference_on_results_volume(o):
        c = container_of(o, "evo2-worker", "worker")
        c["env"].append({"name": "EVO2_REFERENCES", "value": "grch38=/results/GRCh38.fa.gz"})

    return [("PVC removed", drop_pvc, None), ("API without the results volume",
                                                api_without_results, None), ("inline Secret", add_secret, None),
            ("literal password env", literal_password, None), ("2 GPUs for TP 1 x CP 1", two_gpus,
                                                                 None),
            ("cuda worker without GPU", cuda_without_gpu, None), ("no liveness probe", no_probe,
                                                                  None),
            ("TCP readiness probe", tcp_probe, None), ("no resource limits", no_limits, None),
            ("root pod", root, None), ("image by tag", tag_image, None),
            ("grace < drain", short_grace, None), ("API grace <= drain", api_short_grace, None),
            ("Service selector", bad_selector, None), ("unknown Secret", unknown_secret, None),
            ("KEDA on lag", lag_trigger, "ScaledObject"), ("worker model != API model",
                                                          other_model, None),
            ("model baked into the image", baked_model, None),
            ("Redis without maxmemory", redis_unbounded, "StatefulSet"),
            ("reference genome off the mounted volumes", reference_off_volume, None),
            ("reference path leaving the models mount", reference_escapes_volume, None),
            ("EVO2_REFERENCES entry without a name", reference_malformed, None),
            ("reference genome on an emptyDir", reference_on_empty_dir, None),
            ("reference genome on the read-write results volume", reference_on_results_volume,
             None)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root")
    ap.add_argument("--kubectl", default=os.environ.get("KUBECTL", "kubectl"))
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    k8s = os.path.join(args.root, "deploy", "k8s")
    with open(os.path.join(k8s, "operator-created.txt")) as f:
        operator_created = {ln.strip() for ln in f if ln.strip() and not ln.startswith("#")}
    with open(os.path.join(args.root, "docs", "deploy.md")) as f:
        deploy_doc = f.read()
    try:
        subprocess.run([args.kubectl, "version", "--client"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        print(f"check_manifests: no usable kubectl ({args.kubectl}); scripts/setup.sh installs "
              "Debian's kubernetes-client", file=sys.stderr)
        return 2
    errors, rendered = [], {}
    overlays_dir = os.path.join(k8s, "overlays")
    for name in sorted(os.listdir(overlays_dir)):
        rendered[name] = render(args.kubectl, os.path.join(overlays_dir, name))
        errors += check_overlay(name, rendered[name], operator_created, deploy_doc)
        print(f"check_manifests: overlays/{name}: {len(rendered[name])} objects rendered")
    for part in ("base", "redis", "keda", "monitoring"):  # each renders on its own too
        render(args.kubectl, os.path.join(k8s, part))
    if args.self_test:
        for what, mutate, needs_kind in mutations():
            for name, objs in rendered.items():
                if needs_kind and not any(o["kind"] == needs_kind for o in objs):
                    continue
                broken = copy.deepcopy(objs)
                mutate(broken)
                before = set(check_overlay(name, objs, operator_created, deploy_doc))
                if not set(check_overlay(name, broken, operator_created, deploy_doc)) - before:
                    errors.append(f"self-test: overlays/{name} with '{what}' passes the checks")
                break
        print(f"check_manifests: self-test: {len(mutations())} kinds of breakage")
    for e in errors:
        print(e, file=sys.stderr)
    print(f"check_manifests: {len(errors)} violation(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
