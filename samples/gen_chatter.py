#!/usr/bin/env python3
"""Generate samples/control-plane-chatter.jsonl: five minutes of control-plane
chatter of a small idle cluster, and nothing else.

The log is SYNTHESIZED, not captured. It is shaped after what the API server of
a kind / kubeadm cluster (v1.29, one control-plane node, two workers, kubeadm's
default RBAC, `--use-service-account-credentials` for the controller-manager)
records with an audit policy that keeps every stage: the identities, user
agents, request URIs, verbs, resources, subresources, response codes and
authorization annotations are the ones each component really uses:

- kube-apiserver (system:apiserver): its identity lease, the `kubernetes`
  service / endpoints / endpointslice reconciler, lease garbage collection;
- kube-scheduler and kube-controller-manager: leader-election leases every
  2 s, shared-informer watches that time out and are re-opened;
- the controller-manager's controllers as system:serviceaccount:kube-system:*
  (endpointslice, endpoint, garbage collector and resource quota discovery,
  deployment / replicaset / daemonset status, root CA publisher, ...);
- kubelets (system:node:<node>): node leases in kube-node-lease, node gets
  and nodes/status patches, pods/status patches, events, serviceaccounts/token
  creates for projected tokens, TokenReviews / SubjectAccessReviews for their
  own API, watches scoped to their node;
- kube-proxy and CoreDNS watches; kube-probe's /livez, /readyz, /healthz.

It is deterministic (fixed seed, fixed start time): rerun it to regenerate the
same file. Python 3 standard library only.

    python3 samples/gen_chatter.py > samples/control-plane-chatter.jsonl
"""

import json
import random
import sys
import uuid
from datetime import datetime, timedelta, timezone

SEED = 6
START = datetime(2024, 3, 1, 11, 0, 0, tzinfo=timezone.utc)
DURATION = 300.0  # seconds
K8S = "v1.29.2"
BUILD = f"(linux/amd64) kubernetes/4b8e819"
CP_NODE, CP_IP = "kind-control-plane", "172.18.0.2"
NODES = [(CP_NODE, CP_IP), ("kind-worker", "172.18.0.3"), ("kind-worker2", "172.18.0.4")]
COREDNS_PODS = [("coredns-76f75df574-7xkqz", "10.244.0.3"), ("coredns-76f75df574-q2m9d", "10.244.0.4")]
KUBE_PROXY_PODS = {CP_NODE: "kube-proxy-8vn2m", "kind-worker": "kube-proxy-l7x4c", "kind-worker2": "kube-proxy-zr5tq"}
APISERVER_LEASE = "apiserver-3hk2yu2a6rdmlpz5fx5wxfqcfe"

rng = random.Random(SEED)
_rv = [48210]


def rv():
    _rv[0] += rng.randint(1, 9)
    return str(_rv[0])


def ts(t):
    return (START + timedelta(seconds=t)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def audit_id():
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def rbac(kind, name, role, subject_kind, subject):
    return (f'RBAC: allowed by {kind} "{name}" of ClusterRole "{role}" to '
            f'{subject_kind} "{subject}"')


# --- identities -------------------------------------------------------------

class Who:
    def __init__(self, username, groups, ua, ip, reason, uid=None, extra=None):
        self.username, self.groups, self.ua, self.ip = username, groups, ua, ip
        self.reason, self.uid, self.extra = reason, uid, extra

    def user(self):
        u = {"username": self.username}
        if self.uid:
            u["uid"] = self.uid
        u["groups"] = self.groups
        if self.extra:
            u["extra"] = self.extra
        return u


def apiserver():
    return Who("system:apiserver", ["system:authenticated", "system:masters"],
               f"kube-apiserver/{K8S} {BUILD}", "::1", "",
               uid="2b4c1d0e-9a7f-4c44-8f3e-1c7d52a0f611")


def scheduler(suffix):
    return Who("system:kube-scheduler", ["system:authenticated"],
               f"kube-scheduler/{K8S} {BUILD}/{suffix}", CP_IP,
               rbac("ClusterRoleBinding", "system:kube-scheduler", "system:kube-scheduler",
                    "User", "system:kube-scheduler"))


def kcm(suffix):
    return Who("system:kube-controller-manager", ["system:authenticated"],
               f"kube-controller-manager/{K8S} {BUILD}/{suffix}", CP_IP,
               rbac("ClusterRoleBinding", "system:kube-controller-manager",
                    "system:kube-controller-manager", "User", "system:kube-controller-manager"))


CONTROLLER_UIDS = {}


def controller(name):
    sa = f"system:serviceaccount:kube-system:{name}"
    uid = CONTROLLER_UIDS.setdefault(name, str(uuid.UUID(int=rng.getrandbits(128), version=4)))
    return Who(sa, ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
               f"kube-controller-manager/{K8S} {BUILD}/{sa}", CP_IP,
               rbac("ClusterRoleBinding", f"system:controller:{name}", f"system:controller:{name}",
                    "ServiceAccount", f"{name}/kube-system"), uid=uid)


def kubelet(node, ip):
    return Who(f"system:node:{node}", ["system:nodes", "system:authenticated"],
               f"kubelet/{K8S} {BUILD}", ip, "")


def kube_proxy(node, ip):
    pod = KUBE_PROXY_PODS[node]
    return Who("system:serviceaccount:kube-system:kube-proxy",
               ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
               f"kube-proxy/{K8S} {BUILD}", ip,
               rbac("ClusterRoleBinding", "kubeadm:node-proxier", "system:node-proxier",
                    "ServiceAccount", "kube-proxy/kube-system"),
               uid="0e8f3b52-6a4d-4f0b-9a53-7d5f0c3e2a18",
               extra={"authentication.kubernetes.io/pod-name": [pod],
                      "authentication.kubernetes.io/pod-uid": [POD_UIDS[pod]]})


def coredns(pod, ip):
    return Who("system:serviceaccount:kube-system:coredns",
               ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
               "coredns/v1.11.1 (linux/amd64) kubernetes/$Format", ip,
               rbac("ClusterRoleBinding", "system:coredns", "system:coredns",
                    "ServiceAccount", "coredns/kube-system"),
               uid="5a1e6d2c-3b9f-4e27-8c0d-94f1a7b2e6c3",
               extra={"authentication.kubernetes.io/pod-name": [pod],
                      "authentication.kubernetes.io/pod-uid": [POD_UIDS[pod]]})


def probe(ip):
    return Who("system:anonymous", ["system:unauthenticated"], "kube-probe/1.29", ip,
               rbac("ClusterRoleBinding", "system:public-info-viewer", "system:public-info-viewer",
                    "Group", "system:unauthenticated"))


POD_UIDS = {}
for _p in list(KUBE_PROXY_PODS.values()) + [p for p, _ in COREDNS_PODS] + [
        "etcd-kind-control-plane", "kube-apiserver-kind-control-plane",
        "kube-controller-manager-kind-control-plane", "kube-scheduler-kind-control-plane",
        "kindnet-4xw8p", "kindnet-hx2fj", "kindnet-9mdkc",
        "local-path-provisioner-7577fdbbfb-kt6sd"]:
    POD_UIDS[_p] = str(uuid.UUID(int=rng.getrandbits(128), version=4))

# Pods by node, as (namespace, name, service account).
PODS_ON = {
    CP_NODE: [("kube-system", "etcd-kind-control-plane", None),
              ("kube-system", "kube-apiserver-kind-control-plane", None),
              ("kube-system", "kube-controller-manager-kind-control-plane", None),
              ("kube-system", "kube-scheduler-kind-control-plane", None),
              ("kube-system", KUBE_PROXY_PODS[CP_NODE], "kube-proxy"),
              ("kube-system", "kindnet-4xw8p", "kindnet"),
              ("kube-system", COREDNS_PODS[0][0], "coredns"),
              ("kube-system", COREDNS_PODS[1][0], "coredns"),
              ("local-path-storage", "local-path-provisioner-7577fdbbfb-kt6sd", "local-path-provisioner-service-account")],
    "kind-worker": [("kube-system", KUBE_PROXY_PODS["kind-worker"], "kube-proxy"),
                    ("kube-system", "kindnet-hx2fj", "kindnet")],
    "kind-worker2": [("kube-system", KUBE_PROXY_PODS["kind-worker2"], "kube-proxy"),
                     ("kube-system", "kindnet-9mdkc", "kindnet")],
}

# --- request model ------------------------------------------------------------

GROUPS = {  # resource -> (API prefix, apiVersion as objectRef gives it)
    "leases": ("/apis/coordination.k8s.io/v1", "coordination.k8s.io", "v1"),
    "endpointslices": ("/apis/discovery.k8s.io/v1", "discovery.k8s.io", "v1"),
    "deployments": ("/apis/apps/v1", "apps", "v1"),
    "replicasets": ("/apis/apps/v1", "apps", "v1"),
    "daemonsets": ("/apis/apps/v1", "apps", "v1"),
    "statefulsets": ("/apis/apps/v1", "apps", "v1"),
    "controllerrevisions": ("/apis/apps/v1", "apps", "v1"),
    "jobs": ("/apis/batch/v1", "batch", "v1"),
    "cronjobs": ("/apis/batch/v1", "batch", "v1"),
    "poddisruptionbudgets": ("/apis/policy/v1", "policy", "v1"),
    "storageclasses": ("/apis/storage.k8s.io/v1", "storage.k8s.io", "v1"),
    "csinodes": ("/apis/storage.k8s.io/v1", "storage.k8s.io", "v1"),
    "csidrivers": ("/apis/storage.k8s.io/v1", "storage.k8s.io", "v1"),
    "csistoragecapacities": ("/apis/storage.k8s.io/v1", "storage.k8s.io", "v1"),
    "volumeattachments": ("/apis/storage.k8s.io/v1", "storage.k8s.io", "v1"),
    "runtimeclasses": ("/apis/node.k8s.io/v1", "node.k8s.io", "v1"),
    "tokenreviews": ("/apis/authentication.k8s.io/v1", "authentication.k8s.io", "v1"),
    "subjectaccessreviews": ("/apis/authorization.k8s.io/v1", "authorization.k8s.io", "v1"),
    "horizontalpodautoscalers": ("/apis/autoscaling/v2", "autoscaling", "v2"),
    "priorityclasses": ("/apis/scheduling.k8s.io/v1", "scheduling.k8s.io", "v1"),
    "flowschemas": ("/apis/flowcontrol.apiserver.k8s.io/v1", "flowcontrol.apiserver.k8s.io", "v1"),
    "prioritylevelconfigurations": ("/apis/flowcontrol.apiserver.k8s.io/v1", "flowcontrol.apiserver.k8s.io", "v1"),
    "validatingwebhookconfigurations": ("/apis/admissionregistration.k8s.io/v1", "admissionregistration.k8s.io", "v1"),
    "mutatingwebhookconfigurations": ("/apis/admissionregistration.k8s.io/v1", "admissionregistration.k8s.io", "v1"),
    "certificatesigningrequests": ("/apis/certificates.k8s.io/v1", "certificates.k8s.io", "v1"),
    "clusterroles": ("/apis/rbac.authorization.k8s.io/v1", "rbac.authorization.k8s.io", "v1"),
    "ingresses": ("/apis/networking.k8s.io/v1", "networking.k8s.io", "v1"),
}
WATCH_VERBS = {"watch"}
events = []


def path_of(resource, namespace=None, name=None, subresource=None):
    prefix = GROUPS[resource][0] if resource in GROUPS else "/api/v1"
    p = prefix
    if namespace:
        p += f"/namespaces/{namespace}"
    if resource == "namespaces" and name:
        return f"{prefix}/namespaces/{name}" + (f"/{subresource}" if subresource else "")
    p += f"/{resource}"
    if name:
        p += f"/{name}"
    if subresource:
        p += f"/{subresource}"
    return p


def object_ref(resource, namespace, name, subresource):
    ref = {"resource": resource}
    if namespace:
        ref["namespace"] = namespace
    if name:
        ref["name"] = name
    if resource in GROUPS:
        ref["apiGroup"] = GROUPS[resource][1]
        ref["apiVersion"] = GROUPS[resource][2]
    else:
        ref["apiVersion"] = "v1"
    if subresource:
        ref["subresource"] = subresource
    return ref


def emit(t, who, verb, uri, ref=None, code=200, level="Metadata", duration=None,
         request_object=None, response_object=None, started=False, status_extra=None,
         omit_received=False, final_stage="ResponseComplete"):
    """One request: its RequestReceived, (ResponseStarted,) ResponseComplete events."""
    duration = duration if duration is not None else rng.uniform(0.0008, 0.012)
    aid = audit_id()
    base = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level, "auditID": aid}

    def event(stage, at, with_response):
        e = dict(base)
        e["stage"] = stage
        e["requestURI"] = uri
        e["verb"] = verb
        e["user"] = who.user()
        e["sourceIPs"] = [who.ip]
        e["userAgent"] = who.ua
        if ref:
            e["objectRef"] = ref
        if with_response:
            status = {"metadata": {}, "code": code}
            if status_extra:
                status.update(status_extra)
            e["responseStatus"] = status
        if request_object is not None and level in ("Request", "RequestResponse"):
            e["requestObject"] = request_object
        if response_object is not None and level == "RequestResponse" and stage == final_stage:
            e["responseObject"] = response_object
        e["requestReceivedTimestamp"] = ts(t)
        e["stageTimestamp"] = ts(at)
        if stage != "RequestReceived":
            e["annotations"] = {"authorization.k8s.io/decision": "allow",
                                "authorization.k8s.io/reason": who.reason}
        return e

    if not omit_received:
        events.append((t, event("RequestReceived", t, False)))
    if started:
        events.append((t + 0.0006, event("ResponseStarted", t + 0.0006, True)))
    if t + duration <= DURATION:
        events.append((t + duration, event(final_stage, t + duration, True)))


def periodic(period, jitter=0.0, first=None):
    t = rng.uniform(0, period) if first is None else first
    while t < DURATION:
        yield t
        t += period + rng.uniform(-jitter, jitter)


def q(**params):
    from urllib.parse import quote
    return "?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())


# --- leader election and leases ----------------------------------------------

def lease_body(name, namespace, holder, duration_s, t):
    return {"kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": rv()},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration_s,
                     "acquireTime": "2024-03-01T09:12:40.118250Z",
                     "renewTime": ts(t).replace("Z", "000Z")[:-4] + "Z", "leaseTransitions": 0}}


def leader_election(who, name, holder):
    for t in periodic(2.0, 0.05):
        emit(t, who, "get", path_of("leases", "kube-system", name) + "?timeout=5s",
             object_ref("leases", "kube-system", name, None))
        t2 = t + rng.uniform(0.003, 0.01)
        level = "RequestResponse" if rng.random() < 0.1 else "Metadata"
        body = lease_body(name, "kube-system", holder, 15, t2)
        conflict = rng.random() < 0.01
        emit(t2, who, "update", path_of("leases", "kube-system", name) + "?timeout=5s",
             object_ref("leases", "kube-system", name, None), level=level,
             code=409 if conflict else 200, request_object=body,
             response_object=None if conflict else body,
             status_extra={"status": "Failure", "reason": "Conflict",
                           "message": f'Operation cannot be fulfilled on leases.coordination.k8s.io "{name}": '
                                      "the object has been modified; please apply your changes to the latest "
                                      "version and try again"} if conflict else None)


def apiserver_chatter():
    who = apiserver()
    for t in periodic(10.0, 0.02):
        emit(t, who, "get", path_of("leases", "kube-system", APISERVER_LEASE),
             object_ref("leases", "kube-system", APISERVER_LEASE, None))
        emit(t + 0.004, who, "update", path_of("leases", "kube-system", APISERVER_LEASE),
             object_ref("leases", "kube-system", APISERVER_LEASE, None))
    # The reconciler of the `kubernetes` service and its endpoints.
    for t in periodic(10.0, 0.02):
        emit(t, who, "get", path_of("namespaces", None, "default"), object_ref("namespaces", None, "default", None))
        emit(t + 0.002, who, "get", path_of("services", "default", "kubernetes"),
             object_ref("services", "default", "kubernetes", None))
        emit(t + 0.004, who, "get", path_of("endpoints", "default", "kubernetes"),
             object_ref("endpoints", "default", "kubernetes", None))
        emit(t + 0.006, who, "get", path_of("endpointslices", "default", "kubernetes"),
             object_ref("endpointslices", "default", "kubernetes", None))
    for t in periodic(60.0, 0.5):
        for ns in ("kube-system", "kube-public", "kube-node-lease"):
            emit(t, who, "get", path_of("namespaces", None, ns), object_ref("namespaces", None, ns, None))
            t += 0.003
    # Identity lease garbage collection.
    for t in periodic(60.0, 0.5):
        emit(t, who, "list", path_of("leases", "kube-system")
             + q(labelSelector="apiserver.kubernetes.io/identity=kube-apiserver"),
             object_ref("leases", "kube-system", None, None))
    # The priority-and-fairness config and the authentication configmap.
    for t in periodic(90.0, 1.0):
        emit(t, who, "get", path_of("configmaps", "kube-system", "extension-apiserver-authentication"),
             object_ref("configmaps", "kube-system", "extension-apiserver-authentication", None))
        emit(t + 0.01, who, "get", path_of("priorityclasses", None, "system-node-critical"),
             object_ref("priorityclasses", None, "system-node-critical", None))


# --- informers (list/watch) -------------------------------------------------------

def informer(who, resource, namespace=None, **selectors):
    """A reflector: a watch opened before the log starts, timing out after
    5-10 minutes and re-opened; now and then a 410 Gone forces a relist."""
    def watch_uri():
        timeout = rng.randint(300, 599)
        params = {"allowWatchBookmarks": "true"}
        params.update(selectors)
        params.update(resourceVersion=rv(), timeout=f"{timeout // 60}m{timeout % 60}s",
                      timeoutSeconds=timeout, watch="true")
        return path_of(resource, namespace) + q(**params), timeout

    t = -rng.uniform(0, 599)
    uri, timeout = watch_uri()
    while t < DURATION:
        # A watch opened before the log starts shows only its end.
        before = t < 0
        if t + timeout > 0:
            # Rarely a watch handler panics (e.g. a broken connection mid-write).
            panic = rng.random() < 0.03
            emit(t, who, "watch", uri, object_ref(resource, namespace, None, None),
                 started=not before, omit_received=before, duration=timeout,
                 code=500 if panic else 200, final_stage="Panic" if panic else "ResponseComplete",
                 status_extra={"status": "Failure", "reason": "InternalError",
                               "message": "APIServer panic'd: net/http: abort Handler"} if panic else None)
        t += timeout
        if rng.random() < 0.15 and t < DURATION:
            params = dict(selectors)
            params.update(limit=500, resourceVersion="0")
            emit(t, who, "list", path_of(resource, namespace) + q(**params),
                 object_ref(resource, namespace, None, None), duration=rng.uniform(0.002, 0.03))
            t += 0.04
        uri, timeout = watch_uri()


SCHEDULER_INFORMERS = ["pods", "nodes", "persistentvolumes", "persistentvolumeclaims", "storageclasses",
                       "csinodes", "csidrivers", "csistoragecapacities", "services", "namespaces",
                       "replicationcontrollers", "replicasets", "statefulsets", "poddisruptionbudgets"]
KCM_INFORMERS = ["pods", "nodes", "namespaces", "services", "endpoints", "endpointslices", "configmaps",
                 "secrets", "serviceaccounts", "persistentvolumes", "persistentvolumeclaims", "deployments",
                 "replicasets", "daemonsets", "statefulsets", "controllerrevisions", "jobs", "cronjobs",
                 "leases", "horizontalpodautoscalers", "poddisruptionbudgets", "resourcequotas",
                 "limitranges", "csinodes", "csidrivers", "volumeattachments", "storageclasses",
                 "certificatesigningrequests", "clusterroles", "ingresses", "replicationcontrollers",
                 "validatingwebhookconfigurations", "mutatingwebhookconfigurations", "podtemplates"]
APISERVER_INFORMERS = ["namespaces", "services", "endpoints", "endpointslices", "serviceaccounts",
                       "secrets", "nodes", "pods", "priorityclasses", "flowschemas",
                       "prioritylevelconfigurations", "validatingwebhookconfigurations",
                       "mutatingwebhookconfigurations", "leases", "clusterroles", "resourcequotas",
                       "limitranges", "storageclasses", "runtimeclasses", "persistentvolumes"]


def informers():
    for r in SCHEDULER_INFORMERS:
        informer(scheduler("scheduler"), r,
                 **({"fieldSelector": "status.phase!=Succeeded,status.phase!=Failed"} if r == "pods" else {}))
    informer(scheduler("scheduler"), "configmaps", "kube-system",
             fieldSelector="metadata.name=extension-apiserver-authentication")
    for r in KCM_INFORMERS:
        informer(kcm("shared-informers"), r)
    informer(kcm("shared-informers"), "configmaps", "kube-system",
             fieldSelector="metadata.name=extension-apiserver-authentication")
    for r in APISERVER_INFORMERS:
        informer(apiserver(), r)
    # Controllers with their own watches.
    informer(controller("token-cleaner"), "secrets", "kube-system",
             fieldSelector="type=bootstrap.kubernetes.io/token")
    informer(controller("bootstrap-signer"), "secrets", "kube-system",
             fieldSelector="type=bootstrap.kubernetes.io/token")
    informer(controller("bootstrap-signer"), "configmaps", "kube-public", fieldSelector="metadata.name=cluster-info")
    for r in ("namespaces", "configmaps"):
        informer(controller("root-ca-cert-publisher"), r)
    for node, ip in NODES:
        k = kubelet(node, ip)
        informer(k, "pods", fieldSelector=f"spec.nodeName={node}")
        informer(k, "nodes", fieldSelector=f"metadata.name={node}")
        informer(k, "services")
        informer(k, "runtimeclasses")
        informer(k, "csidrivers")
        for ns, name, sa in PODS_ON[node]:
            if sa:
                informer(k, "configmaps", ns, fieldSelector="metadata.name=kube-root-ca.crt")
        if any(n == "kube-proxy" for _, _, n in PODS_ON[node]):
            informer(k, "configmaps", "kube-system", fieldSelector="metadata.name=kube-proxy")
        if node == CP_NODE:
            informer(k, "configmaps", "kube-system", fieldSelector="metadata.name=coredns")
        kp = kube_proxy(node, ip)
        informer(kp, "services", labelSelector="!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name")
        informer(kp, "endpointslices", labelSelector="!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name")
        informer(kp, "nodes", fieldSelector=f"metadata.name={node}")
    for pod, ip in COREDNS_PODS:
        c = coredns(pod, ip)
        for r in ("services", "endpointslices", "namespaces"):
            informer(c, r)


# --- kubelets ----------------------------------------------------------------------

def kubelets():
    for node, ip in NODES:
        k = kubelet(node, ip)
        for t in periodic(10.0, 0.05):
            level = "RequestResponse" if rng.random() < 0.05 else "Metadata"
            body = lease_body(node, "kube-node-lease", node, 40, t)
            emit(t, k, "update", path_of("leases", "kube-node-lease", node) + "?timeout=10s",
                 object_ref("leases", "kube-node-lease", node, None), level=level,
                 request_object=body, response_object=body)
        for t in periodic(10.0, 0.05):
            emit(t, k, "get", path_of("nodes", None, node) + "?resourceVersion=0&timeout=10s",
                 object_ref("nodes", None, node, None))
        for t in periodic(60.0, 5.0):
            patch = {"status": {"$setElementOrder/conditions": [{"type": c} for c in
                                ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")],
                                "conditions": [{"lastHeartbeatTime": ts(t)[:19] + "Z", "type": "Ready"}]}}
            level = "Request" if rng.random() < 0.3 else "Metadata"
            emit(t, k, "patch", path_of("nodes", None, node, "status") + "?timeout=10s",
                 object_ref("nodes", None, node, "status"), level=level, request_object=patch)
        # Probe results flip a readiness condition now and then.
        pods = [p for p in PODS_ON[node] if p[2]]
        for t in periodic(45.0, 10.0):
            ns, name, _ = rng.choice(pods)
            patch = {"metadata": {"uid": POD_UIDS.get(name, audit_id())},
                     "status": {"$setElementOrder/conditions": [{"type": c} for c in
                                ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
                                "conditions": [{"lastProbeTime": None, "lastTransitionTime": ts(t)[:19] + "Z",
                                                "status": "True", "type": "Ready"}]}}
            emit(t, k, "get", path_of("pods", ns, name), object_ref("pods", ns, name, None))
            emit(t + 0.004, k, "patch", path_of("pods", ns, name, "status"),
                 object_ref("pods", ns, name, "status"), level=rng.choice(["Metadata", "Request"]),
                 request_object=patch)
        # Projected service account tokens are refreshed at 80% of their life.
        for t in periodic(70.0, 20.0):
            ns, name, sa = rng.choice(pods)
            req = {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                   "metadata": {"creationTimestamp": None},
                   "spec": {"audiences": None, "expirationSeconds": 3607,
                            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": name,
                                               "uid": POD_UIDS.get(name)}},
                   "status": {"token": "", "expirationTimestamp": None}}
            emit(t, k, "create", path_of("serviceaccounts", ns, sa, "token"),
                 object_ref("serviceaccounts", ns, sa, "token"), code=201,
                 level=rng.choice(["Metadata", "Request"]), request_object=req)
        # Probe and lifecycle events.
        for t in periodic(50.0, 15.0):
            ns, name, _ = rng.choice(pods)
            emit(t, k, "create", path_of("events", ns), object_ref("events", ns, None, None), code=201)
        # Webhook authentication and authorization of requests to the kubelet API.
        for t in periodic(30.0, 2.0):
            tr = {"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
                  "metadata": {"creationTimestamp": None},
                  "spec": {"token": "", "audiences": ["https://kubernetes.default.svc.cluster.local"]},
                  "status": {"user": {}}}
            emit(t, k, "create", path_of("tokenreviews"), object_ref("tokenreviews", None, None, None),
                 code=201, level="Request", request_object=tr)
            sar = {"kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                   "metadata": {"creationTimestamp": None},
                   "spec": {"resourceAttributes": {"verb": "get", "version": "v1", "resource": "nodes",
                                                   "subresource": "metrics", "name": node},
                            "user": "kube-apiserver-kubelet-client",
                            "groups": ["system:masters", "system:authenticated"]},
                   "status": {"allowed": False}}
            emit(t + 0.003, k, "create", path_of("subjectaccessreviews"),
                 object_ref("subjectaccessreviews", None, None, None), code=201, level="Request",
                 request_object=sar)
        # The kubelet reads the CSINode of its node once a minute.
        for t in periodic(60.0, 3.0):
            emit(t, k, "get", path_of("csinodes", None, node), object_ref("csinodes", None, node, None))


# --- controller-manager's controllers ---------------------------------------------

def controllers():
    # Discovery by the garbage collector, resource quota and namespace controllers.
    for name, period in (("generic-garbage-collector", 30.0), ("resourcequota-controller", 30.0),
                         ("namespace-controller", 300.0)):
        who = controller(name)
        for t in periodic(period, 0.2):
            emit(t, who, "get", "/api", None)
            emit(t + 0.002, who, "get", "/apis", None)
    # EndpointSlices / Endpoints follow readiness changes of CoreDNS.
    for t in periodic(45.0, 10.0):
        emit(t, controller("endpointslice-controller"), "update",
             path_of("endpointslices", "kube-system", "kube-dns-8hq7c"),
             object_ref("endpointslices", "kube-system", "kube-dns-8hq7c", None))
        emit(t + 0.003, controller("endpoint-controller"), "update",
             path_of("endpoints", "kube-system", "kube-dns"), object_ref("endpoints", "kube-system", "kube-dns", None))
    for t in periodic(60.0, 10.0):
        emit(t, controller("deployment-controller"), "update",
             path_of("deployments", "kube-system", "coredns", "status"),
             object_ref("deployments", "kube-system", "coredns", "status"))
        emit(t + 0.01, controller("replicaset-controller"), "update",
             path_of("replicasets", "kube-system", "coredns-76f75df574", "status"),
             object_ref("replicasets", "kube-system", "coredns-76f75df574", "status"))
    for t in periodic(90.0, 10.0):
        for ds in ("kube-proxy", "kindnet"):
            emit(t, controller("daemon-set-controller"), "update",
                 path_of("daemonsets", "kube-system", ds, "status"),
                 object_ref("daemonsets", "kube-system", ds, "status"))
            t += 0.01
    for t in periodic(15.0, 0.1):
        emit(t, controller("horizontal-pod-autoscaler"), "list",
             path_of("horizontalpodautoscalers") + "?limit=500&resourceVersion=0",
             object_ref("horizontalpodautoscalers", None, None, None))
    # The node lifecycle controller and ttl controller work from informers;
    # the ttl controller patches an annotation when the cluster size changes.
    for t in periodic(120.0, 10.0):
        node = rng.choice(NODES)[0]
        emit(t, controller("ttl-controller"), "patch", path_of("nodes", None, node),
             object_ref("nodes", None, node, None), level="Request",
             request_object={"metadata": {"annotations": {"node.alpha.kubernetes.io/ttl": "0"}}})
    for t in periodic(100.0, 10.0):
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease", "local-path-storage"):
            emit(t, controller("root-ca-cert-publisher"), "get", path_of("configmaps", ns, "kube-root-ca.crt"),
                 object_ref("configmaps", ns, "kube-root-ca.crt", None))
            t += 0.002
    # Delegated authentication / authorization of scrapes of the metrics endpoints.
    for who in (kcm("kube-controller-manager"), scheduler("scheduler")):
        for t in periodic(30.0, 1.0):
            emit(t, who, "create", path_of("tokenreviews"), object_ref("tokenreviews", None, None, None),
                 code=201)
            emit(t + 0.002, who, "create", path_of("subjectaccessreviews"),
                 object_ref("subjectaccessreviews", None, None, None), code=201)


def health_probes():
    who = probe(CP_IP)
    for path, period in (("/livez", 10.0), ("/readyz", 10.0)):
        for t in periodic(period, 0.05):
            emit(t, who, "get", path, None)
    for t in periodic(30.0, 0.5):
        emit(t, kcm("kube-controller-manager"), "get", "/healthz", None)
    for t in periodic(60.0, 0.5):
        emit(t, apiserver(), "get", "/readyz", None)
        emit(t + 0.01, apiserver(), "get", "/version", None)


def to_v1beta1(e):
    """The v1beta1 shape: same fields, plus `timestamp` and `metadata.creationTimestamp`."""
    out = dict(e)
    out["apiVersion"] = "audit.k8s.io/v1beta1"
    out["metadata"] = {"creationTimestamp": e["stageTimestamp"]}
    out["timestamp"] = e["stageTimestamp"]
    return out


def main():
    leader_election(kcm("leader-election"), "kube-controller-manager",
                    "kind-control-plane_4f1a6e0b-2c8d-4d7e-9a3b-5e6f7a8b9c0d")
    leader_election(scheduler("leader-election"), "kube-scheduler",
                    "kind-control-plane_9c2e7b1d-0f4a-4b6c-8d3e-1a2b3c4d5e6f")
    apiserver_chatter()
    informers()
    kubelets()
    controllers()
    health_probes()
    events.sort(key=lambda pair: (pair[0], pair[1]["auditID"], pair[1]["stage"]))
    # One audit backend shipped in the v1beta1 shape for a few seconds (an
    # old webhook receiver), so both versions appear.
    out = sys.stdout
    for at, e in events:
        if 95.0 <= at < 100.0:
            e = to_v1beta1(e)
        out.write(json.dumps(e, separators=(", ", ": ")) + "\n")


if __name__ == "__main__":
    main()
