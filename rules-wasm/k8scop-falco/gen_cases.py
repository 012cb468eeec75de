#!/usr/bin/env python3
"""The k8scop-falco pack's test cases: writes cases.json on stdout.

    python3 rules-wasm/k8scop-falco/gen_cases.py > rules-wasm/k8scop-falco/cases.json

cases.json is what `k8scop rules test` and CI read; this script is how it is
written: audit events shaped as the API server logs them (v1 and v1beta1,
Metadata / Request / RequestResponse, every stage, failed answers), built
from a few helpers so that hundreds of cases stay readable. Edit the cases
here and regenerate; audit ids and times derive from each case's name, so
adding a case leaves the others unchanged.
"""
import copy
import json
import sys
import uuid

P = "k8scop-falco/"
ALLOW_USERS = {"allowed_users": "system:*,alice,bob,carol,ci-deployer"}

_counter = [0]


def _next():
    _counter[0] += 1
    return _counter[0]


USERS = {
    "alice": {"username": "alice", "uid": "a1c3-0001", "groups": ["developers", "system:authenticated"]},
    "bob": {"username": "bob", "uid": "b0b0-0002", "groups": ["ops", "system:authenticated"]},
    "carol": {"username": "carol", "uid": "ca70-0003", "groups": ["platform", "system:authenticated"]},
    "ci-deployer": {"username": "ci-deployer", "groups": ["ci", "system:authenticated"]},
    "mallory": {"username": "mallory", "groups": ["system:authenticated"]},
    "eve": {"username": "eve", "groups": ["contractors", "system:authenticated"]},
    "kubernetes-admin": {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]},
    "kops": {"username": "kops", "groups": ["system:masters", "system:authenticated"]},
    "anon": {"username": "system:anonymous", "groups": ["system:unauthenticated"]},
}

IPS = {"alice": "203.0.113.7", "bob": "198.51.100.23", "carol": "10.20.0.5", "ci-deployer": "10.20.3.4",
       "mallory": "192.0.2.66", "eve": "192.0.2.99", "kubernetes-admin": "172.18.0.1", "kops": "10.0.0.9",
       "anon": "45.33.32.156"}

KUBECTL = "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819"


import os as _os
import sys as _sys

# One table of the control plane's own agents for every pack's cases.
_sys.path.insert(0, _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "..", "..", "tests"))
from gen_control_plane import component_agent  # noqa: E402


GROUP_VERSION = {"": "v1", "apps": "v1", "batch": "v1", "rbac.authorization.k8s.io": "v1",
                 "networking.k8s.io": "v1", "extensions": "v1beta1", "serving.knative.dev": "v1"}

REASONS = {
    403: ("Forbidden", "{res} \"{name}\" is forbidden: User \"{user}\" cannot {verb} resource \"{res}\" in API group \"{group}\" in the namespace \"{ns}\""),
    404: ("NotFound", "{res} \"{name}\" not found"),
    409: ("AlreadyExists", "{res} \"{name}\" already exists"),
    422: ("Invalid", "{res} \"{name}\" is invalid: spec: Invalid value"),
    500: ("InternalError", "Internal error occurred: unexpected panic"),
}


def control_plane(name, groups=None):
    return {"username": name, "groups": groups or ["system:authenticated"]}


def ev(verb, resource, ns=None, name=None, *, group="", sub=None, user="alice", code=None,
       level="RequestResponse", stage="ResponseComplete", body=None, resp=None, api="v1",
       query="", uri=None, ip=None, ua=None, decision=None, reason=None, impersonate=None):
    """One audit event as it sits in Elasticsearch."""
    n = _next()
    if code is None:
        code = {"create": 201}.get(verb, 200)
        if sub in ("exec", "attach", "portforward"):
            code = 101
    u = USERS[user] if isinstance(user, str) else user
    uname = u["username"]
    if ua is None:
        ua = component_agent(uname) or KUBECTL
    if ip is None and uname == "system:apiserver":
        ip = "::1"
    version = GROUP_VERSION.get(group, "v1")
    if uri is None:
        base = f"/api/{version}" if group == "" else f"/apis/{group}/{version}"
        parts = [base]
        if ns:
            parts.append(f"namespaces/{ns}")
        parts.append(resource)
        if name and verb not in ("create",) or (name and sub):
            parts.append(name)
        if sub:
            parts.append(sub)
        uri = "/".join(parts)
        if query:
            uri += "?" + query
    t = f"2024-03-01T11:{n // 60 % 60:02d}:{n % 60:02d}"
    e = {"kind": "Event", "apiVersion": f"audit.k8s.io/{api}", "level": level,
         "auditID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"k8scop-falco/{n}")),
         "stage": stage, "requestURI": uri, "verb": verb, "user": copy.deepcopy(u),
         "sourceIPs": [ip or IPS.get(user if isinstance(user, str) else "", "10.244.1.17")],
         "userAgent": ua}
    if impersonate:
        e["impersonatedUser"] = {"username": impersonate, "groups": ["system:authenticated"]}
    if resource:
        ref = {"resource": resource}
        if ns:
            ref["namespace"] = ns
        if name:
            ref["name"] = name
        if group:
            ref["apiGroup"] = group
        ref["apiVersion"] = version
        if sub:
            ref["subresource"] = sub
        e["objectRef"] = ref
    if stage != "RequestReceived":
        status = {"metadata": {}, "code": code}
        if code >= 400:
            r, msg = REASONS.get(code, ("", ""))
            status.update({"status": "Failure", "reason": r, "message": msg.format(
                res=resource, name=name or "", user=uname, verb=verb, group=group, ns=ns or "")})
        e["responseStatus"] = status
    if level in ("Request", "RequestResponse") and body is not None:
        e["requestObject"] = body
    if level == "RequestResponse" and stage != "RequestReceived":
        if resp is not None:
            e["responseObject"] = resp
        elif body is not None and 200 <= code < 300 and isinstance(body, dict):
            r = copy.deepcopy(body)
            md = r.setdefault("metadata", {})
            if name:
                md.setdefault("name", name)
            if ns:
                md.setdefault("namespace", ns)
            md["uid"] = str(uuid.uuid5(uuid.NAMESPACE_OID, f"obj/{n}"))
            md["resourceVersion"] = str(100000 + n)
            md["creationTimestamp"] = t + "Z"
            e["responseObject"] = r
        elif code >= 400:
            e["responseObject"] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                   "status": "Failure", "reason": status.get("reason", ""),
                                   "code": code}
    recv = t + ".100000Z"
    done = t + ".140000Z"
    if api == "v1beta1":
        e["timestamp"] = t + "Z"
        e["metadata"] = {"creationTimestamp": t + "Z"}
    e["requestReceivedTimestamp"] = recv
    e["stageTimestamp"] = recv if stage == "RequestReceived" else done
    if stage != "RequestReceived":
        if decision is None:
            decision = "forbid" if code == 403 else "allow"
        ann = {"authorization.k8s.io/decision": decision}
        if reason is None and decision == "allow":
            reason = {
                "alice": 'RBAC: allowed by RoleBinding "developers-edit/default" of ClusterRole "edit" to Group "developers"',
                "bob": 'RBAC: allowed by ClusterRoleBinding "ops-admin" of ClusterRole "admin" to Group "ops"',
                "carol": 'RBAC: allowed by ClusterRoleBinding "platform" of ClusterRole "cluster-admin" to Group "platform"',
                "kubernetes-admin": "",
            }.get(user if isinstance(user, str) else "", "")
        if reason:
            ann["authorization.k8s.io/reason"] = reason
        e["annotations"] = ann
    return e


def lifecycle(final, stages=("RequestReceived", "ResponseComplete")):
    """The same request logged at several stages (same auditID)."""
    out = []
    for st in stages:
        e = copy.deepcopy(final)
        e["stage"] = st
        if st == "RequestReceived":
            e.pop("responseStatus", None)
            e.pop("responseObject", None)
            e.pop("annotations", None)
            e["stageTimestamp"] = e["requestReceivedTimestamp"]
        elif st == "ResponseStarted":
            e.pop("responseObject", None)
        out.append(e)
    return out


def meta(e):
    """The same event at Metadata level."""
    e = copy.deepcopy(e)
    e["level"] = "Metadata"
    e.pop("requestObject", None)
    e.pop("responseObject", None)
    return e


def beta(e):
    e = copy.deepcopy(e)
    e["apiVersion"] = "audit.k8s.io/v1beta1"
    t = e["requestReceivedTimestamp"][:19] + "Z"
    e["timestamp"] = t
    e["metadata"] = {"creationTimestamp": t}
    return e


# ---- objects ---------------------------------------------------------------

def container(name, image, privileged=None, mounts=()):
    c = {"name": name, "image": image, "resources": {}, "terminationMessagePath": "/dev/termination-log",
         "imagePullPolicy": "IfNotPresent"}
    sc = {}
    if privileged is not None:
        sc["privileged"] = privileged
    if sc:
        c["securityContext"] = sc
    if mounts:
        c["volumeMounts"] = [{"name": m, "mountPath": p} for m, p in mounts]
    return c


def pod_spec(containers, init=(), host_network=None, host_pid=None, host_ipc=None, volumes=()):
    spec = {"containers": list(containers)}
    if init:
        spec["initContainers"] = list(init)
    if host_network is not None:
        spec["hostNetwork"] = host_network
    if host_pid is not None:
        spec["hostPID"] = host_pid
    if host_ipc is not None:
        spec["hostIPC"] = host_ipc
    if volumes:
        spec["volumes"] = [{"name": n, "hostPath": {"path": p, "type": ""}} for n, p in volumes]
    spec["restartPolicy"] = "Always"
    spec["dnsPolicy"] = "ClusterFirst"
    return spec


def pod(name, ns, spec):
    return {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "namespace": ns,
            "labels": {"run": name}}, "spec": spec}


def workload(kind, name, ns, spec):
    api = {"Job": "batch/v1", "CronJob": "batch/v1"}.get(kind, "apps/v1")
    template = {"metadata": {"labels": {"app": name}}, "spec": spec}
    if kind == "CronJob":
        body_spec = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}}
    elif kind == "Job":
        template["spec"] = dict(spec, restartPolicy="Never")
        body_spec = {"template": template, "backoffLimit": 2}
    else:
        body_spec = {"selector": {"matchLabels": {"app": name}}, "template": template}
        if kind != "DaemonSet":
            body_spec["replicas"] = 2
    return {"kind": kind, "apiVersion": api, "metadata": {"name": name, "namespace": ns}, "spec": body_spec}


def service(name, ns, type_, ports):
    return {"kind": "Service", "apiVersion": "v1", "metadata": {"name": name, "namespace": ns},
            "spec": {"type": type_, "selector": {"app": name}, "ports": ports}}


def configmap(name, ns, data):
    return {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": name, "namespace": ns}, "data": data}


def role(kind, name, rules, ns=None):
    md = {"name": name}
    if ns:
        md["namespace"] = ns
    return {"kind": kind, "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": md, "rules": rules}


def binding(kind, name, role_kind, role_name, subjects, ns=None):
    md = {"name": name}
    if ns:
        md["namespace"] = ns
    return {"kind": kind, "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": md,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
            "subjects": subjects}


def user_subject(name):
    return {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name}


def sa_subject(name, ns):
    return {"kind": "ServiceAccount", "name": name, "namespace": ns}


def secret(name, ns, type_="Opaque"):
    return {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": name, "namespace": ns},
            "type": type_, "data": {"token": "c2VjcmV0"}}


def ingress(name, ns, hosts, tls=None):
    spec = {"ingressClassName": "nginx", "rules": [
        {"host": h, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
            "service": {"name": name, "port": {"number": 80}}}}]}} for h in hosts]}
    if tls is not None:
        spec["tls"] = tls
    return {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1", "metadata": {"name": name, "namespace": ns},
            "spec": spec}


def node(name):
    return {"kind": "Node", "apiVersion": "v1", "metadata": {"name": name, "labels": {
        "kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}}, "spec": {}}


def namespace(name):
    return {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": name}}


def sa(name, ns):
    return {"kind": "ServiceAccount", "apiVersion": "v1", "metadata": {"name": name, "namespace": ns}}


# ---- cases -----------------------------------------------------------------

CASES = []


def stable(case_name, events):
    """Audit ids and times derived from the case's name, so adding a case
    leaves the others' events as they were. Events of one request (same
    audit id) keep sharing theirs."""
    import hashlib
    h = int(hashlib.sha256(case_name.encode()).hexdigest(), 16)
    day = 1 + h % 28
    base = (h >> 8) % (20 * 3600)  # seconds into the day, before 20:00
    ids = {}
    for i, e in enumerate(events):
        if e.get("kind") != "Event":
            continue
        old = e["auditID"]
        if old not in ids:
            ids[old] = (str(uuid.uuid5(uuid.NAMESPACE_URL, f"k8scop-falco/{case_name}/{len(ids)}")), len(ids))
        new_id, k = ids[old]
        e["auditID"] = new_id
        t = base + k * 7
        stamp = f"2024-03-{day:02d}T{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}"
        for key in ("requestReceivedTimestamp", "stageTimestamp"):
            e[key] = stamp + e[key][19:]
        if "timestamp" in e:
            e["timestamp"] = stamp + "Z"
            e["metadata"] = {"creationTimestamp": stamp + "Z"}
        if isinstance(e.get("responseObject"), dict):
            md = e["responseObject"].get("metadata", {})
            if "creationTimestamp" in md:
                md["creationTimestamp"] = stamp + "Z"
    return events


def case(name, rule, events, expect, config=None):
    if config is None and "namespace" in rule and "kube" not in rule:
        config = dict(ALLOW_USERS, allowed_namespaces="kube-system,kube-public,default,team-*")
    if isinstance(events, dict):
        events = [events]
    c = {"name": name, "rule": P + rule}
    cfg = dict(ALLOW_USERS) if config is None else config
    if cfg:
        c["config"] = cfg
    c["events"] = stable(name, events)
    c["expect"] = [dict(x, rule=P + x["rule"]) for x in expect]
    CASES.append(c)


def x(rule, event=0, severity=None, fields=None, group=None):
    d = {"rule": rule, "event": event}
    if severity:
        d["severity"] = severity
    if group is not None:
        d["group"] = group
    if fields:
        d["fields"] = fields
    return d


KUBELET = control_plane("system:node:kind-control-plane", ["system:nodes", "system:authenticated"])
RS_CONTROLLER = control_plane("system:serviceaccount:kube-system:replicaset-controller",
                              ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"])
DS_CONTROLLER = control_plane("system:serviceaccount:kube-system:daemon-set-controller",
                              ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"])
APISERVER = control_plane("system:apiserver", ["system:masters"])
AGGREGATOR = control_plane("system:serviceaccount:kube-system:clusterrole-aggregation-controller",
                           ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"])
ROOT_CA = control_plane("system:serviceaccount:kube-system:root-ca-cert-publisher",
                        ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"])
NS_CONTROLLER = control_plane("system:serviceaccount:kube-system:namespace-controller",
                              ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"])


def build():
    # -- disallowed-user ------------------------------------------------------
    case("mallory, on no allow-list, lists pods: disallowed user (default lists)", "disallowed-user",
         ev("list", "pods", "default", user="mallory", level="Metadata", query="limit=500"),
         [x("disallowed-user", 0, "medium", {"user": "mallory", "uri": "/api/v1/namespaces/default/pods?limit=500",
                                              "source_ip": "192.0.2.66", "groups": "system:authenticated"},
            group="mallory")], config={})
    case("eve's forbidden v1beta1 request still counts: the user is unknown", "disallowed-user",
         beta(ev("get", "secrets", "prod", "db-creds", user="eve", level="Metadata", code=403)),
         [x("disallowed-user", 0, "medium", {"user": "eve", "response_code": "403"}),
          x("secret-get-failed", 0, fields={"user": "eve"})], config={})
    case("one request logged at three stages is one disallowed-user alert, at its final stage", "disallowed-user",
         lifecycle(ev("get", "configmaps", "default", "app-config", user="mallory", level="Metadata")),
         [x("disallowed-user", 1)], config={})
    case("kops is on Falco's allowed list", "disallowed-user",
         ev("get", "nodes", None, "kind-worker", user="kops", level="Metadata"), [], config={})
    case("control-plane identities are never disallowed users", "disallowed-user",
         [ev("update", "leases", "kube-system", "kube-scheduler", group="coordination.k8s.io",
             user=control_plane("system:kube-scheduler"), level="Metadata"),
          ev("get", "pods", "default", "web", user=KUBELET, level="Metadata")], [], config={})
    case("an operator's allowed_users list admits alice", "disallowed-user",
         ev("list", "pods", "default", user="alice", level="Metadata"), [],
         config={"allowed_users": "system:*,alice"})
    case("a request only received (no final stage yet) is not counted", "disallowed-user",
         lifecycle(ev("list", "pods", "default", user="mallory", level="Metadata"), stages=("RequestReceived",)),
         [], config={})

    # -- full-admin-access ----------------------------------------------------
    case("kubernetes-admin (kubeadm's admin credential) used to read nodes", "full-admin-access",
         ev("list", "nodes", None, user="kubernetes-admin", level="Metadata"),
         [x("full-admin-access", 0, "medium", {"user": "kubernetes-admin", "groups": "system:masters,system:authenticated",
                                                "uri": "/api/v1/nodes"}, group="kubernetes-admin")], config={})
    case("minikube-user on v1beta1 creating a deployment is a default admin too", "full-admin-access",
         beta(ev("create", "deployments", "default", "web", group="apps", user={"username": "minikube-user", "groups": ["system:masters", "system:authenticated"]},
                 level="Metadata")),
         [x("full-admin-access", 0, fields={"user": "minikube-user"}),
          x("deployment-created", 0, fields={"user": "minikube-user", "name": "web"})], config={})
    case("alice is no default admin", "full-admin-access",
         ev("list", "nodes", None, user="alice", level="Metadata"), [])
    case("full_admin_users cleared: kubernetes-admin raises nothing", "full-admin-access",
         ev("list", "nodes", None, user="kubernetes-admin", level="Metadata"), [],
         config={"full_admin_users": ""})

    # -- privileged-pod -------------------------------------------------------
    priv = pod("debug-tools", "default", pod_spec([container("shell", "docker.io/library/ubuntu:22.04", privileged=True),
                                                    container("web", "nginx:1.25")]))
    case("a pod with a privileged container", "privileged-pod",
         ev("create", "pods", "default", "debug-tools", body=priv),
         [x("privileged-pod", 0, "medium", {"user": "alice", "namespace": "default", "name": "debug-tools",
                                            "container": "shell", "container_kind": "container",
                                            "image": "docker.io/library/ubuntu:22.04", "resource": "pods",
                                            "response_code": "201"},
            group="default|debug-tools|shell")])
    ds = workload("DaemonSet", "node-agent", "monitoring", pod_spec(
        [container("agent", "ghcr.io/acme/agent:2.1")], init=[container("setup", "busybox:1.36", privileged=True)]))
    case("a v1beta1 Request-level DaemonSet whose initContainer is privileged", "privileged-pod",
         beta(ev("create", "daemonsets", "monitoring", "node-agent", group="apps", body=ds, level="Request", user="bob")),
         [x("privileged-pod", 0, fields={"user": "bob", "container": "setup", "container_kind": "initContainer",
                                         "image": "busybox:1.36", "resource": "daemonsets"})])
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "securityContext": {"privileged": True}}]}}}}
    case("a patch making a deployment's container privileged", "privileged-pod",
         ev("patch", "deployments", "shop", "cart", group="apps", body=patch, user="carol", code=200),
         [x("privileged-pod", 0, fields={"user": "carol", "verb": "patch", "container": "app", "name": "cart"})])
    eph = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "api-7d9f", "namespace": "prod"},
           "spec": {"ephemeralContainers": [dict(container("debugger-x7k2", "busybox:1.36", privileged=True),
                                                 targetContainerName="api", stdin=True, tty=True)]}}
    case("kubectl debug --profile=sysadmin adds a privileged ephemeral container", "privileged-pod",
         ev("patch", "pods", "prod", "api-7d9f", sub="ephemeralcontainers", body=eph, code=200),
         [x("privileged-pod", 0, fields={"container": "debugger-x7k2", "container_kind": "ephemeralContainer",
                                         "resource": "pods/ephemeralcontainers"}),
          x("ephemeral-container-created", 0, fields={"containers": "debugger-x7k2", "images": "busybox:1.36"})])
    case("a JSON patch making a deployment's first container privileged", "privileged-pod",
         ev("patch", "deployments", "shop", "cart", group="apps", code=200, user="bob",
            body=[{"op": "add", "path": "/spec/template/spec/containers/0/securityContext", "value": {"privileged": True}}]),
         [x("privileged-pod", 0, fields={"user": "bob", "verb": "patch", "container_kind": "container"})])
    case("a JSON patch changing only the replica count", "privileged-pod",
         ev("patch", "deployments", "shop", "cart", group="apps", code=200,
            body=[{"op": "replace", "path": "/spec/replicas", "value": 5}]), [])
    calico = pod("calico-node-debug", "default", pod_spec([container("calico-node", "docker.io/calico/node:v3.26.1", privileged=True)]))
    case("calico/node is on the privileged images list", "privileged-pod",
         ev("create", "pods", "default", "calico-node-debug", body=calico), [])
    case("at Metadata level the pod spec is not logged: no alert, no crash", "privileged-pod",
         meta(ev("create", "pods", "default", "debug-tools", body=priv)), [])
    case("a privileged pod refused by Pod Security admission (403) created nothing", "privileged-pod",
         ev("create", "pods", "default", "debug-tools", body=priv, code=403, decision="allow"), [])
    case("a privileged pod that already exists (409) created nothing", "privileged-pod",
         ev("create", "pods", "default", "debug-tools", body=priv, code=409), [])
    case("a panic while creating a privileged pod (500, Panic stage) created nothing", "privileged-pod",
         ev("create", "pods", "default", "debug-tools", body=priv, code=500, stage="Panic"), [])
    case("a dry run creates nothing", "privileged-pod",
         ev("create", "pods", "default", "debug-tools", body=priv, query="dryRun=All"), [])
    case("privileged: false is not privileged", "privileged-pod",
         ev("create", "pods", "default", "web", body=pod("web", "default", pod_spec(
             [container("web", "nginx:1.25", privileged=False)]))), [])
    case("a privileged pod logged at three stages raises one alert, at ResponseComplete", "privileged-pod",
         lifecycle(ev("create", "pods", "default", "debug-tools", body=priv)),
         [x("privileged-pod", 1, fields={"container": "shell"})])
    mirror = pod("kube-proxy-static", "kube-system", pod_spec([container("kube-proxy", "registry.k8s.io/kube-proxy:v1.29.2", privileged=True)], host_network=True))
    case("the kubelet's mirror pod of kube-proxy runs a trusted image", "privileged-pod",
         ev("create", "pods", "kube-system", "kube-proxy-static", body=mirror, user=KUBELET), [])
    # Falco's own case: the pod that runs is the one the replicaset-controller
    # creates, and it is seen whoever creates it.
    hash_ = "5d8f7c9b6"
    owned = copy.deepcopy(priv)
    owned["metadata"] = {"generateName": f"debug-tools-{hash_}-", "namespace": "default",
                         "labels": {"app": "debug-tools", "pod-template-hash": hash_},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                              "name": f"debug-tools-{hash_}", "controller": True,
                                              "blockOwnerDeletion": True, "uid": "0b7c1e52-rs"}]}
    case("a privileged pod created by the replicaset-controller alerts", "privileged-pod",
         ev("create", "pods", "default", None, body=owned, user=RS_CONTROLLER,
            resp=dict(copy.deepcopy(owned), metadata=dict(owned["metadata"], name=f"debug-tools-{hash_}-x2x9q"))),
         [x("privileged-pod", 0, "medium", {"container": "shell", "workload": "debug-tools",
                                            "name": f"debug-tools-{hash_}-x2x9q",
                                            "user": "system:serviceaccount:kube-system:replicaset-controller"},
            group="default|debug-tools|shell")])
    # One rollout, one alert: the Deployment (alice), its ReplicaSet (the
    # deployment-controller) and its pods (the replicaset-controller) share
    # the group key, so the host aggregates them into one alert counting 4.
    dep_priv = workload("Deployment", "debug-tools", "default", priv["spec"])
    rs_priv = {"kind": "ReplicaSet", "apiVersion": "apps/v1",
               "metadata": {"name": f"debug-tools-{hash_}", "namespace": "default",
                            "labels": {"app": "debug-tools", "pod-template-hash": hash_},
                            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                 "name": "debug-tools", "controller": True}]},
               "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "debug-tools",
                                                                          "pod-template-hash": hash_}},
                                                    "spec": priv["spec"]}}}
    DEP_CONTROLLER = control_plane("system:serviceaccount:kube-system:deployment-controller",
                                   ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"])
    case("one rollout (Deployment, ReplicaSet, two pods) is one group", "privileged-pod",
         [ev("create", "deployments", "default", "debug-tools", group="apps", body=dep_priv),
          ev("create", "replicasets", "default", f"debug-tools-{hash_}", group="apps", body=rs_priv, user=DEP_CONTROLLER),
          ev("create", "pods", "default", None, body=owned, user=RS_CONTROLLER),
          ev("create", "pods", "default", None, body=owned, user=RS_CONTROLLER)],
         [x("privileged-pod", i, fields={"workload": "debug-tools", "container": "shell"},
            group="default|debug-tools|shell") for i in range(4)]
         + [x("deployment-created", 0)])
    # A controller's token from kubectl: every rule sees it.
    stolen = control_plane("system:serviceaccount:kube-system:replicaset-controller",
                           ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"])
    case("the replicaset-controller's token used from kubectl is not the control plane", "privileged-pod",
         ev("create", "pods", "default", "debug-tools", body=priv, user=stolen, ua=KUBECTL, ip="198.51.100.66"),
         [x("privileged-pod", 0, fields={"user": "system:serviceaccount:kube-system:replicaset-controller",
                                         "user_agent": KUBECTL})])

    # -- disallowed-image-pod -------------------------------------------------
    images_cfg = dict(ALLOW_USERS, allowed_images="registry.example.com/*,nginx,docker.io/library/nginx")
    mixed = pod("web", "default", pod_spec([container("web", "nginx:1.25")],
                                           init=[container("fetch", "docker.io/attacker/miner:latest")]))
    case("an initContainer from an untrusted registry", "disallowed-image-pod",
         ev("create", "pods", "default", "web", body=mixed),
         [x("disallowed-image-pod", 0, "medium", {"container": "fetch", "container_kind": "initContainer",
                                                  "image": "docker.io/attacker/miner:latest"},
            group="default|web|fetch")], config=images_cfg)
    dep = workload("Deployment", "tools", "default", pod_spec([container("tools", "ghcr.io/evil/tool:1")]))
    case("a deployment with an image outside the trusted registries", "disallowed-image-pod",
         ev("create", "deployments", "default", "tools", group="apps", body=dep, user="ci-deployer"),
         [x("disallowed-image-pod", 0, fields={"user": "ci-deployer", "image": "ghcr.io/evil/tool:1"}),
          x("deployment-created", 0)], config=images_cfg)
    eph2 = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "api-7d9f", "namespace": "prod"},
            "spec": {"ephemeralContainers": [dict(container("debugger-abcd", "busybox:1.36"), targetContainerName="api")]}}
    case("an ephemeral debug container from Docker Hub", "disallowed-image-pod",
         ev("update", "pods", "prod", "api-7d9f", sub="ephemeralcontainers", body=eph2),
         [x("disallowed-image-pod", 0, fields={"container": "debugger-abcd", "container_kind": "ephemeralContainer"}),
          x("ephemeral-container-created", 0)], config=images_cfg)
    trusted = pod("api", "default", pod_spec([container("api", "registry.example.com/shop/api:3.2.1"),
                                              container("proxy", "nginx:1.25")]))
    case("images from the trusted registry and the allowed repository", "disallowed-image-pod",
         ev("create", "pods", "default", "api", body=trusted), [], config=images_cfg)
    case("kubectl set image through a JSON patch", "disallowed-image-pod",
         ev("patch", "deployments", "default", "api", group="apps", code=200,
            body=[{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "quay.io/evil/api:latest"}]),
         [x("disallowed-image-pod", 0, fields={"image": "quay.io/evil/api:latest"})], config=images_cfg)
    case("by default every image is allowed (Falco's default)", "disallowed-image-pod",
         ev("create", "pods", "default", "web", body=mixed), [])
    case("Metadata-level pod create: no images to judge", "disallowed-image-pod",
         meta(ev("create", "pods", "default", "web", body=mixed)), [], config=images_cfg)
    case("a forbidden pod create ran nothing", "disallowed-image-pod",
         ev("create", "pods", "default", "web", body=mixed, code=403), [], config=images_cfg)

    # -- sensitive-mount-pod --------------------------------------------------
    sock = pod("builder", "ci", pod_spec([container("docker", "docker:24-cli", mounts=[("dockersock", "/var/run/docker.sock")])],
                                          volumes=[("dockersock", "/var/run/docker.sock")]))
    case("a pod mounting the Docker socket", "sensitive-mount-pod",
         ev("create", "pods", "ci", "builder", body=sock, user="ci-deployer"),
         [x("sensitive-mount-pod", 0, "medium", {"volume": "dockersock", "host_path": "/var/run/docker.sock",
                                                 "sensitive_path": "/var/run/docker.sock", "containers": "docker",
                                                 "images": "docker:24-cli", "user": "ci-deployer"},
            group="ci|builder|/var/run/docker.sock")])
    # The shape of Falco's own traces: a v1beta1 event, the pod created by
    # the replicaset-controller from loopback with no user agent at all.
    falco_shape = pod("nginx-deployment-5cbd8d5c7d-abcde", "default", pod_spec(
        [container("nginx", "nginx:1.14.2", mounts=[("etc", "/host/etc")])],
        host_network=True, volumes=[("etc", "/etc")]))
    falco_shape["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                                   "name": "nginx-deployment-5cbd8d5c7d", "controller": True}]
    falco_shape["metadata"]["labels"]["pod-template-hash"] = "5cbd8d5c7d"
    case("Falco's shape: the replicaset-controller, no agent, creates a hostNetwork pod mounting /etc",
         "sensitive-mount-pod",
         beta(ev("create", "pods", "default", "nginx-deployment-5cbd8d5c7d-abcde", body=falco_shape,
                 user=RS_CONTROLLER, ua="", ip="::1")),
         [x("sensitive-mount-pod", 0, fields={"host_path": "/etc", "workload": "nginx-deployment"},
            group="default|nginx-deployment|/etc"),
          x("host-network-pod", 0, fields={"workload": "nginx-deployment"}, group="default|nginx-deployment")])
    root = workload("Deployment", "backup", "default", pod_spec(
        [container("backup", "registry.example.com/backup:1", mounts=[("host", "/host")])], volumes=[("host", "/")]))
    case("a deployment mounting the node's root", "sensitive-mount-pod",
         ev("create", "deployments", "default", "backup", group="apps", body=root, user="bob"),
         [x("sensitive-mount-pod", 0, fields={"host_path": "/", "sensitive_path": "/"}),
          x("deployment-created", 0)])
    varrun = pod("sneaky", "default", pod_spec([container("app", "alpine:3.19", mounts=[("run", "/host/run")])],
                                               volumes=[("run", "/var/run/")]))
    case("mounting /var/run exposes the Docker socket below it", "sensitive-mount-pod",
         ev("create", "pods", "default", "sneaky", body=varrun),
         [x("sensitive-mount-pod", 0, fields={"host_path": "/var/run/", "sensitive_path": "/var/run/docker.sock"})])
    kubelet = pod("harvester", "default", pod_spec(
        [container("h", "alpine:3.19", mounts=[("pods", "/pods")]), container("web", "nginx:1.25")],
        volumes=[("pods", "/var/lib/kubelet/pods")]))
    case("a pod mounting the kubelet's pod volumes (every pod's secrets on the node)", "sensitive-mount-pod",
         ev("create", "pods", "default", "harvester", body=kubelet),
         [x("sensitive-mount-pod", 0, fields={"host_path": "/var/lib/kubelet/pods", "sensitive_path": "/var/lib/kubelet/*",
                                              "containers": "h", "images": "alpine:3.19"})])
    case("a JSON patch adding a hostPath volume on / to a deployment", "sensitive-mount-pod",
         ev("patch", "deployments", "shop", "cart", group="apps", code=200,
            body=[{"op": "add", "path": "/spec/template/spec/volumes/-", "value": {"name": "host", "hostPath": {"path": "/"}}}]),
         [x("sensitive-mount-pod", 0, fields={"volume": "host", "host_path": "/", "sensitive_path": "/"})])
    logs = workload("DaemonSet", "fluent-bit", "logging", pod_spec(
        [container("fluent-bit", "cr.fluentbit.io/fluent/fluent-bit:2.2", mounts=[("varlog", "/var/log"), ("tz", "/etc/localtime"), ("certs", "/etc/ssl/certs")])],
        volumes=[("varlog", "/var/log"), ("tz", "/etc/localtime"), ("certs", "/etc/ssl/certs")]))
    case("/var/log, /etc/localtime and /etc/ssl/certs are not sensitive", "sensitive-mount-pod",
         ev("create", "daemonsets", "logging", "fluent-bit", group="apps", body=logs, user="bob"), [])
    nodeexp = workload("DaemonSet", "node-exporter", "monitoring", pod_spec(
        [container("node-exporter", "prom/node-exporter:v1.7.0", mounts=[("proc", "/host/proc"), ("sys", "/host/sys")])],
        volumes=[("proc", "/proc"), ("sys", "/sys")]))
    case("node-exporter may mount /proc (sensitive-mount images)", "sensitive-mount-pod",
         ev("create", "daemonsets", "monitoring", "node-exporter", group="apps", body=nodeexp, user="bob"), [])
    case("Metadata level: no volumes to judge", "sensitive-mount-pod",
         meta(ev("create", "pods", "ci", "builder", body=sock, user="ci-deployer")), [])
    data = pod("reader", "default", pod_spec([container("r", "alpine:3.19", mounts=[("d", "/d")])],
                                             volumes=[("d", "/data/secrets/")]))
    case("an operator's own sensitive path", "sensitive-mount-pod",
         ev("create", "pods", "default", "reader", body=data),
         [x("sensitive-mount-pod", 0, fields={"sensitive_path": "/data/secrets/*", "host_path": "/data/secrets/"})],
         config=dict(ALLOW_USERS, sensitive_mount_paths="/data/secrets/*"))
    case("with only the operator's paths configured, /var/run/docker.sock is no longer on the list", "sensitive-mount-pod",
         ev("create", "pods", "ci", "builder", body=sock, user="ci-deployer"), [],
         config=dict(ALLOW_USERS, sensitive_mount_paths="/data/secrets/*"))

    # -- host namespaces --------------------------------------------------------
    hn = pod("net-debug", "default", pod_spec([container("tcpdump", "nicolaka/netshoot:v0.11")], host_network=True))
    case("a pod on the host network", "host-network-pod",
         ev("create", "pods", "default", "net-debug", body=hn),
         [x("host-network-pod", 0, "medium", {"images": "nicolaka/netshoot:v0.11", "name": "net-debug"},
            group="default|net-debug")])
    sts = workload("StatefulSet", "edge", "edge", pod_spec([container("edge", "registry.example.com/edge:4")], host_network=True))
    case("a v1beta1 statefulset update onto the host network", "host-network-pod",
         beta(ev("update", "statefulsets", "edge", "edge", group="apps", body=sts, user="bob")),
         [x("host-network-pod", 0, fields={"verb": "update", "resource": "statefulsets"})])
    gke = pod("metadata-proxy", "default", pod_spec([container("proxy", "gke.gcr.io/gke-metadata-server:20240101")], host_network=True))
    case("gke-metadata-server may use the host network", "host-network-pod",
         ev("create", "pods", "default", "metadata-proxy", body=gke), [])
    case("hostNetwork: false", "host-network-pod",
         ev("create", "pods", "default", "net-debug", body=pod("net-debug", "default", pod_spec(
             [container("tcpdump", "nicolaka/netshoot:v0.11")], host_network=False))), [])
    hnpatch = {"spec": {"template": {"spec": {"hostNetwork": True}}}}
    case("a patch turning hostNetwork on shows no containers: still an alert", "host-network-pod",
         ev("patch", "deployments", "default", "web", group="apps", body=hnpatch, code=200),
         [x("host-network-pod", 0, fields={"verb": "patch"})])

    hp = pod("pid-peek", "default", pod_spec([container("peek", "alpine:3.19")], host_pid=True))
    case("a pod in the host PID namespace", "host-pid-pod",
         ev("create", "pods", "default", "pid-peek", body=hp),
         [x("host-pid-pod", 0, "medium", {"images": "alpine:3.19"})])
    cj = workload("CronJob", "node-audit", "ops", pod_spec([container("audit", "registry.example.com/tools/audit:1")], host_pid=True))
    case("a cronjob whose pods share the host PID namespace", "host-pid-pod",
         ev("create", "cronjobs", "ops", "node-audit", group="batch", body=cj, user="bob"),
         [x("host-pid-pod", 0, fields={"resource": "cronjobs"})])
    case("operator-trusted images may use hostPID", "host-pid-pod",
         ev("create", "cronjobs", "ops", "node-audit", group="batch", body=cj, user="bob"), [],
         config=dict(ALLOW_USERS, host_pid_images="registry.example.com/tools/*"))
    case("hostPID at Metadata level is not visible", "host-pid-pod",
         meta(ev("create", "pods", "default", "pid-peek", body=hp)), [])

    job = workload("Job", "shm-reader", "default", pod_spec([container("reader", "alpine:3.19")], host_ipc=True))
    case("a job sharing the host IPC namespace", "host-ipc-pod",
         ev("create", "jobs", "default", "shm-reader", group="batch", body=job),
         [x("host-ipc-pod", 0, "medium", {"resource": "jobs", "name": "shm-reader"})])
    case("a pod without hostIPC", "host-ipc-pod",
         ev("create", "pods", "default", "web", body=pod("web", "default", pod_spec([container("web", "nginx:1.25")]))), [])
    case("an invalid (422) hostIPC job was never created", "host-ipc-pod",
         ev("create", "jobs", "default", "shm-reader", group="batch", body=job, code=422), [])

    # -- pod-created-in-kube-namespace ----------------------------------------
    ks = pod("kube-dns-helper", "kube-system", pod_spec([container("helper", "alpine:3.19")]))
    case("alice starts a pod in kube-system", "pod-created-in-kube-namespace",
         ev("create", "pods", "kube-system", "kube-dns-helper", body=ks),
         [x("pod-created-in-kube-namespace", 0, "medium", {"namespace": "kube-system", "images": "alpine:3.19"},
            group="kube-system|kube-dns-helper")])
    kpds = workload("DaemonSet", "node-cache", "kube-public", pod_spec([container("c", "docker.io/evil/cache:1")]))
    case("a daemonset created in kube-public", "pod-created-in-kube-namespace",
         ev("create", "daemonsets", "kube-public", "node-cache", group="apps", body=kpds, user="bob"),
         [x("pod-created-in-kube-namespace", 0, fields={"namespace": "kube-public", "resource": "daemonsets"})])
    lease = pod("lease-sync", "kube-node-lease", pod_spec([container("sync", "alpine:3.19")]))
    case("a pod hidden in kube-node-lease", "pod-created-in-kube-namespace",
         ev("create", "pods", "kube-node-lease", "lease-sync", body=lease),
         [x("pod-created-in-kube-namespace", 0, fields={"namespace": "kube-node-lease", "images": "alpine:3.19"})])
    ms = pod("metrics-server-debug", "kube-system", pod_spec([container("ms", "registry.k8s.io/metrics-server-amd64:v0.3.6")]))
    case("a known system image in kube-system", "pod-created-in-kube-namespace",
         ev("create", "pods", "kube-system", "metrics-server-debug", body=ms), [])
    case("the same pod in default", "pod-created-in-kube-namespace",
         ev("create", "pods", "default", "kube-dns-helper", body=pod("kube-dns-helper", "default", ks["spec"])), [])
    coredns = pod("coredns-76f75df574-abcde", "kube-system", pod_spec([container("coredns", "registry.k8s.io/coredns/coredns:v1.11.1")]))
    case("controllers create kube-system pods all day", "pod-created-in-kube-namespace",
         [ev("create", "pods", "kube-system", "coredns-76f75df574-abcde", body=coredns, user=RS_CONTROLLER),
          ev("create", "pods", "kube-system", "kube-proxy-xk2p9", body=mirror, user=DS_CONTROLLER)], [])

    # -- ephemeral-container-created -------------------------------------------
    case("kubectl debug adds an ephemeral container", "ephemeral-container-created",
         ev("patch", "pods", "prod", "api-7d9f", sub="ephemeralcontainers", body=eph2, code=200),
         [x("ephemeral-container-created", 0, "low", {"pod": "api-7d9f", "containers": "debugger-abcd",
                                                      "images": "busybox:1.36", "namespace": "prod"},
            group="alice|prod|api-7d9f")])
    case("at Metadata level the subresource alone says it", "ephemeral-container-created",
         meta(beta(ev("update", "pods", "prod", "api-7d9f", sub="ephemeralcontainers", body=eph2))),
         [x("ephemeral-container-created", 0, fields={"pod": "api-7d9f", "verb": "update"})])
    case("a forbidden kubectl debug added nothing", "ephemeral-container-created",
         ev("patch", "pods", "prod", "api-7d9f", sub="ephemeralcontainers", body=eph2, code=403), [])
    case("a pod status patch is no ephemeral container", "ephemeral-container-created",
         ev("patch", "pods", "prod", "api-7d9f", sub="status", body={"status": {"phase": "Running"}}, code=200), [])

    # -- nodeport-service --------------------------------------------------------
    np = service("admin-ui", "default", "NodePort", [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"}])
    case("a NodePort service", "nodeport-service",
         ev("create", "services", "default", "admin-ui", body=np),
         [x("nodeport-service", 0, "medium", {"ports": "80:30080/TCP", "service_type": "NodePort", "name": "admin-ui"},
            group="alice|default|admin-ui"),
          x("service-created", 0)])
    case("a service patched to NodePort", "nodeport-service",
         ev("patch", "services", "shop", "cart", body={"spec": {"type": "NodePort"}}, user="bob", code=200),
         [x("nodeport-service", 0, fields={"verb": "patch", "user": "bob", "name": "cart"})])
    case("a JSON patch switching a service to NodePort", "nodeport-service",
         ev("patch", "services", "shop", "cart", code=200,
            body=[{"op": "replace", "path": "/spec/type", "value": "NodePort"}]),
         [x("nodeport-service", 0, fields={"verb": "patch", "name": "cart"})])
    case("a ClusterIP service is only a service", "nodeport-service",
         ev("create", "services", "default", "api", body=service("api", "default", "ClusterIP", [{"port": 80}])),
         [x("service-created", 0)])
    case("a NodePort service at Metadata level: the type is not logged", "nodeport-service",
         meta(ev("create", "services", "default", "admin-ui", body=np)), [x("service-created", 0)])
    case("a forbidden NodePort service was not created", "nodeport-service",
         ev("create", "services", "default", "admin-ui", body=np, code=403), [])

    # -- configmap-private-credentials -------------------------------------------
    aws = configmap("app-env", "shop", {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "REGION": "eu-west-1"})
    case("a configmap with an AWS access key id", "configmap-private-credentials",
         ev("create", "configmaps", "shop", "app-env", body=aws),
         [x("configmap-private-credentials", 0, "medium", {"configmap_keys": "AWS_ACCESS_KEY_ID",
                                                           "matched_patterns": "aws_access_key_id",
                                                           "namespace": "shop", "name": "app-env"},
            group="alice|shop|app-env"),
          x("configmap-created", 0)])
    case("a patch putting a password into a properties file", "configmap-private-credentials",
         ev("patch", "configmaps", "shop", "db-config", body={"data": {"db.properties": "url=jdbc:postgresql://db:5432/shop\nuser=shop\npassword=hunter2\n"}},
            user="bob", code=200),
         [x("configmap-private-credentials", 0, fields={"configmap_keys": "db.properties", "matched_patterns": "password"})])
    case("a v1beta1 update with a passphrase", "configmap-private-credentials",
         beta(ev("update", "configmaps", "vpn", "vpn-config", body=configmap("vpn-config", "vpn", {"ipsec.conf": "conn a\n  passphrase=\"s3cret\"\n"}),
                 level="Request")),
         [x("configmap-private-credentials", 0, fields={"matched_patterns": "passphrase"})])
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1x...\n-----END RSA PRIVATE KEY-----\n"
    case("a configmap carrying a PEM private key and an API key", "configmap-private-credentials",
         ev("create", "configmaps", "ci", "deploy-keys", body=configmap("deploy-keys", "ci", {"id_rsa": pem, "SENTRY_APIKEY": "f00d"}),
            user="ci-deployer"),
         [x("configmap-private-credentials", 0, fields={"configmap_keys": "SENTRY_APIKEY,id_rsa",
                                                        "matched_patterns": "apikey,private key-----"}),
          x("configmap-created", 0)])
    case("a CA certificate and token settings are not credentials", "configmap-private-credentials",
         ev("create", "configmaps", "shop", "trust", body=configmap("trust", "shop", {
             "ca.crt": "-----BEGIN CERTIFICATE-----\nMIIC5zCCAc+gAwIBAgIBADANBgkqhkiG9w0BAQsFADAV\n-----END CERTIFICATE-----\n",
             "token_ttl": "3600", "session.cookie": "secure"})),
         [x("configmap-created", 0)])
    case("kubectl patch --type=json adding a password key", "configmap-private-credentials",
         ev("patch", "configmaps", "shop", "app-env", code=200,
            body=[{"op": "add", "path": "/data/DB_PASSWORD", "value": "hunter2"}]),
         [x("configmap-private-credentials", 0, fields={"configmap_keys": "DB_PASSWORD", "matched_patterns": "password"})])
    case("a JSON patch removing the password key", "configmap-private-credentials",
         ev("patch", "configmaps", "shop", "app-env", code=200,
            body=[{"op": "remove", "path": "/data/DB_PASSWORD"}]), [])
    case("an ordinary configmap", "configmap-private-credentials",
         ev("create", "configmaps", "shop", "app-config", body=configmap("app-config", "shop", {"LOG_LEVEL": "info", "FEATURES": "cart,wishlist"})),
         [x("configmap-created", 0)])
    case("Metadata level: the data is not logged", "configmap-private-credentials",
         meta(ev("create", "configmaps", "shop", "app-env", body=aws)), [x("configmap-created", 0)])
    case("a forbidden patch changed nothing", "configmap-private-credentials",
         ev("patch", "configmaps", "shop", "db-config", body={"data": {"password": "x"}}, code=403), [])
    case("the root CA publisher updating kube-root-ca.crt", "configmap-private-credentials",
         ev("update", "configmaps", "default", "kube-root-ca.crt", user=ROOT_CA,
            body=configmap("kube-root-ca.crt", "default", {"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIC...password\n"})), [])

    # -- anonymous-request-allowed -------------------------------------------------
    case("anonymous lists pods and is allowed", "anonymous-request-allowed",
         ev("list", "pods", "default", user="anon", level="Metadata", ua="curl/8.4.0",
            reason='RBAC: allowed by ClusterRoleBinding "oops-anonymous-view" of ClusterRole "view" to User "system:anonymous"'),
         [x("anonymous-request-allowed", 0, "medium", {"user": "system:anonymous", "uri": "/api/v1/namespaces/default/pods",
                                                       "source_ip": "45.33.32.156", "user_agent": "curl/8.4.0",
                                                       "authorization_reason": 'RBAC: allowed by ClusterRoleBinding "oops-anonymous-view" of ClusterRole "view" to User "system:anonymous"'},
            group="45.33.32.156|list|/api/v1/namespaces/default/pods")])
    case("anonymous reads /version on v1beta1 (allowed by system:public-info-viewer)", "anonymous-request-allowed",
         beta(ev("get", None, uri="/version", user="anon", level="Metadata", ua="curl/8.4.0",
                 reason='RBAC: allowed by ClusterRoleBinding "system:public-info-viewer" of ClusterRole "system:public-info-viewer" to Group "system:unauthenticated"')),
         [x("anonymous-request-allowed", 0, fields={"uri": "/version"})])
    case("health checks are anonymous by design", "anonymous-request-allowed",
         [ev("get", None, uri="/livez", user="anon", level="Metadata", ip="172.18.0.2", ua="kube-probe/1.29"),
          ev("get", None, uri="/readyz?verbose", user="anon", level="Metadata", ip="172.18.0.2", ua="kube-probe/1.29"),
          ev("get", None, uri="/healthz", user="anon", level="Metadata", ip="172.18.0.2", ua="kube-probe/1.29")], [])
    case("anonymous refused (403) is the cluster doing its job", "anonymous-request-allowed",
         ev("list", "secrets", None, user="anon", level="Metadata", code=403, ua="curl/8.4.0"), [])
    case("alice is not anonymous", "anonymous-request-allowed",
         ev("list", "pods", "default", user="alice", level="Metadata"), [])

    # -- pod-exec-attach ------------------------------------------------------------
    q = "command=%2Fbin%2Fsh&command=-c&command=cat+%2Fvar%2Frun%2Fsecrets%2Fkubernetes.io%2Fserviceaccount%2Ftoken&container=api&stdin=true&stdout=true&tty=true"
    case("kubectl exec reading the service-account token", "pod-exec-attach",
         ev("create", "pods", "prod", "api-7d9f", sub="exec", query=q, level="Metadata"),
         [x("pod-exec-attach", 0, "low", {"pod": "api-7d9f", "action": "exec", "container": "api",
                                          "command": "/bin/sh -c cat /var/run/secrets/kubernetes.io/serviceaccount/token",
                                          "response_code": "101"},
            group="alice|prod|api-7d9f|exec|api|/bin/sh -c cat /var/run/secrets/kubernetes.io/serviceaccount/token")])
    case("kubectl attach (v1beta1, websocket get)", "pod-exec-attach",
         beta(ev("get", "pods", "prod", "worker-0", sub="attach", query="container=worker&stdin=true&stdout=true&tty=true",
                 level="Metadata", user="bob")),
         [x("pod-exec-attach", 0, fields={"action": "attach", "container": "worker", "user": "bob"})])
    # Each shape of the session: SPDY is a POST (create), WebSockets a GET
    # (get; kubectl 1.30+ by default).
    k130 = "kubectl/v1.30.1 (darwin/arm64) kubernetes/6911225"
    case("kubectl 1.30 exec over WebSockets is logged as get", "pod-exec-attach",
         ev("get", "pods", "prod", "api-7d9f", sub="exec", query="command=id&container=api&stdout=true",
            level="Metadata", ua=k130),
         [x("pod-exec-attach", 0, fields={"action": "exec", "verb": "get", "command": "id", "response_code": "101"})])
    case("kubectl attach over SPDY is logged as create", "pod-exec-attach",
         ev("create", "pods", "prod", "worker-0", sub="attach", query="container=worker&stdin=true&stdout=true",
            level="Metadata"),
         [x("pod-exec-attach", 0, fields={"action": "attach", "verb": "create", "container": "worker"})])
    case("an exec logged at three stages is one alert, when the session starts (ResponseStarted)", "pod-exec-attach",
         lifecycle(ev("create", "pods", "prod", "api-7d9f", sub="exec", query="command=id&container=api", level="Metadata"),
                   stages=("RequestReceived", "ResponseStarted", "ResponseComplete")),
         [x("pod-exec-attach", 1, fields={"command": "id"})])
    case("a forbidden exec ran nothing", "pod-exec-attach",
         ev("create", "pods", "prod", "api-7d9f", sub="exec", query="command=id&container=api", level="Metadata",
            user="eve", code=403), [], config=dict(ALLOW_USERS, allowed_users="system:*,eve"))
    case("an exec still open (RequestReceived and ResponseStarted, no ResponseComplete yet) alerts while it is open", "pod-exec-attach",
         lifecycle(ev("create", "pods", "prod", "api-7d9f", sub="exec", query="command=id&container=api", level="Metadata"),
                   stages=("RequestReceived", "ResponseStarted")),
         [x("pod-exec-attach", 1, fields={"command": "id"})])
    case("reading logs is not exec", "pod-exec-attach",
         ev("get", "pods", "prod", "api-7d9f", sub="log", query="container=api", level="Metadata"), [])

    # -- pod-port-forward --------------------------------------------------------------
    case("kubectl port-forward to a database pod", "pod-port-forward",
         ev("create", "pods", "data", "postgres-0", sub="portforward", query="ports=5432", level="Metadata", user="bob"),
         [x("pod-port-forward", 0, "low", {"pod": "postgres-0", "ports": "5432", "user": "bob"}, group="bob|data|postgres-0")])
    case("kubectl 1.30 port-forward over WebSockets is logged as get", "pod-port-forward",
         ev("get", "pods", "data", "postgres-0", sub="portforward", query="ports=5432", level="Metadata",
            ua="kubectl/v1.30.1 (darwin/arm64) kubernetes/6911225"),
         [x("pod-port-forward", 0, fields={"pod": "postgres-0", "verb": "get", "ports": "5432"})])
    case("a forbidden port-forward opened nothing", "pod-port-forward",
         ev("create", "pods", "data", "postgres-0", sub="portforward", query="ports=5432", level="Metadata", code=403), [])
    case("a port-forward only received", "pod-port-forward",
         lifecycle(ev("create", "pods", "data", "postgres-0", sub="portforward", level="Metadata"), stages=("RequestReceived",)), [])

    # -- disallowed-namespace-created ---------------------------------------------------
    case("a namespace outside the allowed ones", "disallowed-namespace-created",
         ev("create", "namespaces", None, "crypto-mine", body=namespace("crypto-mine"), user="mallory"),
         [x("disallowed-namespace-created", 0, "medium", {"name": "crypto-mine", "user": "mallory"}, group="mallory|crypto-mine"),
          x("namespace-created", 0)], config={"allowed_users": "system:*,mallory"})
    case("a Metadata-level namespace create still names the namespace", "disallowed-namespace-created",
         meta(ev("create", "namespaces", None, "scratch", body=namespace("scratch"))),
         [x("disallowed-namespace-created", 0, fields={"name": "scratch"}), x("namespace-created", 0)])
    case("team namespaces allowed by the operator", "disallowed-namespace-created",
         ev("create", "namespaces", None, "team-payments", body=namespace("team-payments")),
         [x("namespace-created", 0)], config=dict(ALLOW_USERS, allowed_namespaces="kube-system,kube-public,default,team-*"))
    case("a forbidden namespace create", "disallowed-namespace-created",
         ev("create", "namespaces", None, "crypto-mine", body=namespace("crypto-mine"), code=403), [])

    # -- service-account-created-in-kube-namespace --------------------------------------
    case("a new service account in kube-system", "service-account-created-in-kube-namespace",
         ev("create", "serviceaccounts", "kube-system", "kube-backup", body=sa("kube-backup", "kube-system")),
         [x("service-account-created-in-kube-namespace", 0, "medium", {"namespace": "kube-system", "name": "kube-backup"},
            group="alice|kube-system|kube-backup"),
          x("serviceaccount-created", 0)])
    case("a controller's own name in kube-system", "service-account-created-in-kube-namespace",
         ev("create", "serviceaccounts", "kube-system", "coredns", body=sa("coredns", "kube-system")),
         [x("serviceaccount-created", 0)])
    case("a service account in an application namespace", "service-account-created-in-kube-namespace",
         ev("create", "serviceaccounts", "shop", "cart", body=sa("cart", "shop")), [x("serviceaccount-created", 0)])
    case("a forbidden service account create in kube-system", "service-account-created-in-kube-namespace",
         ev("create", "serviceaccounts", "kube-system", "kube-backup", body=sa("kube-backup", "kube-system"), code=403), [])

    # -- system-role-modified -------------------------------------------------------------
    case("system:node ClusterRole patched", "system-role-modified",
         ev("patch", "clusterroles", None, "system:node", group="rbac.authorization.k8s.io", code=200,
            body={"rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]}),
         [x("system-role-modified", 0, "medium", {"role": "system:node", "verb": "patch"}, group="alice||system:node|patch")])
    case("a system Role deleted at Metadata level (v1beta1)", "system-role-modified",
         beta(ev("delete", "roles", "kube-public", "system:controller:bootstrap-signer", group="rbac.authorization.k8s.io",
                 level="Metadata", user="bob")),
         [x("system-role-modified", 0, fields={"verb": "delete", "namespace": "kube-public"}),
          x("role-deleted", 0)])
    case("system:coredns changes in normal operation", "system-role-modified",
         ev("update", "clusterroles", None, "system:coredns", group="rbac.authorization.k8s.io", level="Metadata", user="bob"), [])
    case("the API server reconciling its default roles", "system-role-modified",
         ev("update", "clusterroles", None, "system:discovery", group="rbac.authorization.k8s.io", level="Metadata", user=APISERVER), [])
    case("a role not named system:", "system-role-modified",
         ev("update", "clusterroles", None, "shop-reader", group="rbac.authorization.k8s.io", level="Metadata"), [])
    case("a forbidden delete of a system role", "system-role-modified",
         ev("delete", "clusterroles", None, "system:node", group="rbac.authorization.k8s.io", level="Metadata", code=403), [])

    # -- cluster-admin-binding ------------------------------------------------------------
    crb = binding("ClusterRoleBinding", "eve-admin", "ClusterRole", "cluster-admin", [user_subject("eve")])
    case("eve bound to cluster-admin", "cluster-admin-binding",
         ev("create", "clusterrolebindings", None, "eve-admin", group="rbac.authorization.k8s.io", body=crb, user="carol"),
         [x("cluster-admin-binding", 0, "medium", {"binding": "eve-admin", "role": "cluster-admin", "subjects": "User:eve",
                                                   "user": "carol"}, group="carol||eve-admin"),
          x("clusterrolebinding-created", 0, fields={"role": "ClusterRole/cluster-admin", "subjects": "User:eve"})])
    rb = binding("RoleBinding", "ci-admin", "ClusterRole", "cluster-admin", [sa_subject("default", "ci")], ns="ci")
    case("a RoleBinding granting cluster-admin in a namespace (impersonating)", "cluster-admin-binding",
         ev("create", "rolebindings", "ci", "ci-admin", group="rbac.authorization.k8s.io", body=rb, user="bob",
            impersonate="system:serviceaccount:ci:deployer"),
         [x("cluster-admin-binding", 0, fields={"subjects": "ServiceAccount:ci/default", "impersonated_user": "system:serviceaccount:ci:deployer"}),
          x("rolebinding-created", 0)])
    view = binding("ClusterRoleBinding", "eve-view", "ClusterRole", "view", [user_subject("eve")])
    case("a binding to view", "cluster-admin-binding",
         ev("create", "clusterrolebindings", None, "eve-view", group="rbac.authorization.k8s.io", body=view),
         [x("clusterrolebinding-created", 0)])
    case("at Metadata level the roleRef is not logged", "cluster-admin-binding",
         meta(ev("create", "clusterrolebindings", None, "eve-admin", group="rbac.authorization.k8s.io", body=crb)),
         [x("clusterrolebinding-created", 0)])
    case("a forbidden binding (RBAC escalation check) granted nothing", "cluster-admin-binding",
         ev("create", "clusterrolebindings", None, "eve-admin", group="rbac.authorization.k8s.io", body=crb, code=403), [])
    case("a Role named cluster-admin in a namespace is not the ClusterRole", "cluster-admin-binding",
         ev("create", "rolebindings", "ci", "fake", group="rbac.authorization.k8s.io",
            body=binding("RoleBinding", "fake", "Role", "cluster-admin", [user_subject("eve")], ns="ci")),
         [x("rolebinding-created", 0)])

    # -- role rules --------------------------------------------------------------------------
    star = role("ClusterRole", "god-mode", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
    star_rules = "verbs=[*] apiGroups=[*] resources=[*]"
    case("a ClusterRole granting everything", "role-with-wildcard",
         ev("create", "clusterroles", None, "god-mode", group="rbac.authorization.k8s.io", body=star),
         [x("role-with-wildcard", 0, "medium", {"role": "god-mode", "rules": star_rules}, group="alice||god-mode"),
          x("role-with-write-privileges", 0, "low", {"write_verbs": "create,delete,deletecollection,patch,update"}),
          x("role-with-pod-exec", 0, "medium", {"rules": star_rules}),
          x("clusterrole-created", 0, fields={"rules": star_rules})])
    case("a Role updated to read every resource (wildcard resources, v1beta1)", "role-with-wildcard",
         beta(ev("update", "roles", "shop", "reader", group="rbac.authorization.k8s.io", level="Request",
                 body=role("Role", "reader", [{"apiGroups": [""], "resources": ["*"], "verbs": ["get", "list"]}], ns="shop"))),
         # `get` on every resource is `get` on pods/exec, attach and portforward.
         [x("role-with-wildcard", 0, fields={"rules": 'verbs=[get,list] apiGroups=[""] resources=[*]'}),
          x("role-with-pod-exec", 0, fields={"exec_subresources": "pods/attach,pods/exec,pods/portforward"})])
    case("a JSON patch appending a wildcard rule to a ClusterRole", "role-with-wildcard",
         ev("patch", "clusterroles", None, "shop-reader", group="rbac.authorization.k8s.io", code=200,
            body=[{"op": "add", "path": "/rules/-", "value": {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}}]),
         [x("role-with-wildcard", 0, fields={"rules": star_rules, "verb": "patch"}),
          x("role-with-write-privileges", 0), x("role-with-pod-exec", 0)])
    reader = role("ClusterRole", "pod-reader", [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]}])
    case("a read-only role", "role-with-wildcard",
         ev("create", "clusterroles", None, "pod-reader", group="rbac.authorization.k8s.io", body=reader),
         [x("clusterrole-created", 0)])
    case("a wildcard role at Metadata level: rules not logged", "role-with-wildcard",
         meta(ev("create", "clusterroles", None, "god-mode", group="rbac.authorization.k8s.io", body=star)),
         [x("clusterrole-created", 0)])
    case("the aggregation controller updating admin", "role-with-wildcard",
         ev("update", "clusterroles", None, "admin", group="rbac.authorization.k8s.io", user=AGGREGATOR, body=star), [])

    deployer = role("Role", "deployer", [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "update", "patch"]}], ns="shop")
    case("a Role that can change deployments", "role-with-write-privileges",
         ev("create", "roles", "shop", "deployer", group="rbac.authorization.k8s.io", body=deployer, user="bob"),
         [x("role-with-write-privileges", 0, "low", {"write_verbs": "patch,update", "role": "deployer", "namespace": "shop",
                                                     "rules": "verbs=[get,list,update,patch] apiGroups=[apps] resources=[deployments]"},
            group="bob|shop|deployer"),
          x("role-created", 0)])
    case("a patch adding delete on secrets", "role-with-write-privileges",
         ev("patch", "roles", "shop", "reader", group="rbac.authorization.k8s.io", code=200,
            body={"rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "delete"]}]}),
         [x("role-with-write-privileges", 0, fields={"write_verbs": "delete"})])
    case("a read-only Role", "role-with-write-privileges",
         ev("create", "roles", "shop", "pod-reader", group="rbac.authorization.k8s.io",
            body=role("Role", "pod-reader", reader["rules"], ns="shop")), [x("role-created", 0)])
    case("a patch that changes only labels has no rules to judge", "role-with-write-privileges",
         ev("patch", "roles", "shop", "deployer", group="rbac.authorization.k8s.io", code=200,
            body={"metadata": {"labels": {"team": "shop"}}}), [])

    execr = role("Role", "debugger", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
                                      {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}], ns="prod")
    case("a Role that can exec into pods", "role-with-pod-exec",
         ev("create", "roles", "prod", "debugger", group="rbac.authorization.k8s.io", body=execr, user="bob"),
         [x("role-with-pod-exec", 0, "medium", {"role": "debugger", "rules": 'verbs=[create] apiGroups=[""] resources=[pods/exec]'},
            group="bob|prod|debugger"),
          x("role-with-write-privileges", 0, fields={"write_verbs": "create"}),
          x("role-created", 0)])
    anyexec = role("ClusterRole", "exec-anything", [{"apiGroups": [""], "resources": ["*/exec"], "verbs": ["create"]}])
    case("*/exec reaches pods/exec", "role-with-pod-exec",
         ev("update", "clusterroles", None, "exec-anything", group="rbac.authorization.k8s.io", body=anyexec),
         [x("role-with-pod-exec", 0, fields={"rules": 'verbs=[create] apiGroups=[""] resources=[*/exec]'}),
          x("role-with-write-privileges", 0)])
    # A WebSocket exec is a GET: before Kubernetes 1.31 (or with
    # AuthorizePodWebsocketUpgradeCreatePermission off) get alone execs.
    case("a ClusterRole granting only get on pods/exec", "role-with-pod-exec",
         ev("create", "clusterroles", None, "exec-get", group="rbac.authorization.k8s.io",
            body=role("ClusterRole", "exec-get", [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get"]}])),
         [x("role-with-pod-exec", 0, "medium", {"role": "exec-get", "exec_subresources": "pods/exec",
                                                "rules": 'verbs=[get] apiGroups=[""] resources=[pods/exec]'}),
          x("clusterrole-created", 0)])
    case("a Role granting get on pods/attach and pods/portforward", "role-with-pod-exec",
         ev("create", "roles", "prod", "attacher", group="rbac.authorization.k8s.io",
            body=role("Role", "attacher", [{"apiGroups": [""], "resources": ["pods/attach", "pods/portforward"],
                                            "verbs": ["get"]}], ns="prod")),
         [x("role-with-pod-exec", 0, fields={"exec_subresources": "pods/attach,pods/portforward"}),
          x("role-created", 0)])
    case("get on pods and pods/log is no exec", "role-with-pod-exec",
         ev("create", "roles", "prod", "log-reader", group="rbac.authorization.k8s.io",
            body=role("Role", "log-reader", [{"apiGroups": [""], "resources": ["pods", "pods/log"],
                                              "verbs": ["get"]}], ns="prod")), [x("role-created", 0)])
    podsall = role("ClusterRole", "pod-manager", [{"apiGroups": [""], "resources": ["pods", "pods/*"], "verbs": ["create", "delete"]}])
    case("pods/* does not reach pods/exec in RBAC", "role-with-pod-exec",
         ev("create", "clusterroles", None, "pod-manager", group="rbac.authorization.k8s.io", body=podsall),
         [x("role-with-write-privileges", 0), x("clusterrole-created", 0)])
    case("an exec role refused (403, escalation prevention)", "role-with-pod-exec",
         ev("create", "roles", "prod", "debugger", group="rbac.authorization.k8s.io", body=execr, code=403), [])

    # -- activity -------------------------------------------------------------------------------
    acts = [
        ("deployment", "deployments", "apps", "shop", "cart", workload("Deployment", "cart", "shop", pod_spec([container("cart", "registry.example.com/cart:2")]))),
        ("service", "services", "", "shop", "cart", service("cart", "shop", "ClusterIP", [{"port": 80}])),
        ("configmap", "configmaps", "", "shop", "cart-config", configmap("cart-config", "shop", {"LOG_LEVEL": "debug"})),
        ("namespace", "namespaces", "", None, "team-shop", namespace("team-shop")),
        ("serviceaccount", "serviceaccounts", "", "shop", "cart", sa("cart", "shop")),
        ("role", "roles", "rbac.authorization.k8s.io", "shop", "viewer", role("Role", "viewer", reader["rules"], ns="shop")),
        ("clusterrole", "clusterroles", "rbac.authorization.k8s.io", None, "viewer", role("ClusterRole", "viewer", reader["rules"])),
        ("rolebinding", "rolebindings", "rbac.authorization.k8s.io", "shop", "viewers", binding("RoleBinding", "viewers", "Role", "viewer", [user_subject("dave")], ns="shop")),
        ("clusterrolebinding", "clusterrolebindings", "rbac.authorization.k8s.io", None, "viewers", binding("ClusterRoleBinding", "viewers", "ClusterRole", "viewer", [user_subject("dave")])),
        ("secret", "secrets", "", "shop", "cart-db", secret("cart-db", "shop")),
    ]
    negatives_create = [
        ("a forbidden create (403) created nothing", dict(code=403)),
        ("an existing object (409) was not created", dict(code=409)),
        ("an invalid object (422) was not created", dict(code=422)),
        ("a server-side dry run created nothing", dict(query="dryRun=All")),
        ("a create only received, never answered", dict(stage="RequestReceived")),
    ]
    negatives_delete = [
        ("a forbidden delete (403) deleted nothing", dict(code=403)),
        ("deleting what is not there (404)", dict(code=404)),
        ("a dry-run delete", dict(query="dryRun=All")),
    ]
    for i, (kind, res, grp, ns, name, body) in enumerate(acts):
        created, deleted = f"{kind}-created", f"{kind}-deleted"
        fields = {"name": name, "resource": res, "verb": "create", "response_code": "201"}
        if ns:
            fields["namespace"] = ns
        if kind == "clusterrole" or kind == "role":
            fields["rules"] = 'verbs=[get,list,watch] apiGroups=[""] resources=[pods,pods/log]'
        if kind.endswith("binding"):
            fields["subjects"] = "User:dave"
            fields["role"] = ("Role/viewer" if kind == "rolebinding" else "ClusterRole/viewer")
        user = ["alice", "bob", "carol", "ci-deployer"][i % 4]
        ev_create = ev("create", res, ns, name, group=grp, body=body, user=user)
        if i % 2 == 1:
            ev_create = beta(ev_create)
        exp = [x(created, 0, "info", dict(fields, user=user), group=f"{user}|{ns or ''}|{name}")]
        case(f"{kind} created by {user}", created, ev_create, exp)
        # Metadata level: the name comes from the objectRef.
        ev_meta = meta(ev("create", res, ns, name, group=grp, body=body, user=user))
        case(f"{kind} created, Metadata level", created, ev_meta, [x(created, 0)])
        neg_name, neg = negatives_create[i % len(negatives_create)]
        case(f"{kind}: {neg_name}", created, ev("create", res, ns, name, group=grp, body=body, **neg), [])
        ev_del = ev("delete", res, ns, name, group=grp, level="Metadata", user=user)
        if i % 2 == 0:
            ev_del = beta(ev_del)
        dfields = {"name": name, "verb": "delete", "response_code": "200"}
        case(f"{kind} deleted by {user}", deleted, ev_del, [x(deleted, 0, "info", dict(dfields, user=user))])
        neg_name, neg = negatives_delete[i % len(negatives_delete)]
        case(f"{kind}: {neg_name}", deleted, ev("delete", res, ns, name, group=grp, level="Metadata", **neg), [])

    case("services of another API group (Knative) are not Kubernetes services", "service-created",
         ev("create", "services", "default", "hello", group="serving.knative.dev",
            body={"kind": "Service", "apiVersion": "serving.knative.dev/v1", "metadata": {"name": "hello"}}), [])
    case("the deployment controller's replicasets and pods are not deployments", "deployment-created",
         [ev("create", "replicasets", "shop", "cart-5d8f7", group="apps", user=control_plane("system:serviceaccount:kube-system:deployment-controller")),
          ev("update", "deployments", "shop", "cart", group="apps", sub="status", user=control_plane("system:serviceaccount:kube-system:deployment-controller"))], [])
    case("the namespace controller finishing a namespace deletion", "namespace-deleted",
         ev("delete", "namespaces", None, "old-team", level="Metadata", user=NS_CONTROLLER), [])
    case("a service-account token request is not a service account", "serviceaccount-created",
         [ev("create", "serviceaccounts", "shop", "cart", sub="token", level="Metadata", user=KUBELET),
          ev("create", "serviceaccounts", "shop", "cart", sub="token", level="Metadata", user="alice")], [])
    case("a service-account token secret is left out", "secret-created",
         ev("create", "secrets", "shop", "cart-token", body=secret("cart-token", "shop", "kubernetes.io/service-account-token")), [])
    case("secrets in kube-system are the control plane's", "secret-created",
         [ev("create", "secrets", "kube-system", "bootstrap-token-abcdef", body=secret("bootstrap-token-abcdef", "kube-system", "bootstrap.kubernetes.io/token")),
          ev("delete", "secrets", "kube-system", "bootstrap-token-abcdef", level="Metadata")], [])
    case("a kube-system secret deletion", "secret-deleted",
         ev("delete", "secrets", "kube-system", "old-cert", level="Metadata", user="bob"), [])
    case("a generateName create names the object from the response", "secret-created",
         ev("create", "secrets", "shop", None, body={"kind": "Secret", "apiVersion": "v1",
                                                     "metadata": {"generateName": "cart-db-", "namespace": "shop"}, "type": "Opaque"},
            resp={"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "cart-db-x7k2p", "namespace": "shop", "uid": "9f1c"}, "type": "Opaque"}),
         [x("secret-created", 0, fields={"name": "cart-db-x7k2p"}, group="alice|shop|cart-db-x7k2p")])

    # -- secret get ---------------------------------------------------------------------------
    case("alice reads a secret", "secret-get",
         ev("get", "secrets", "prod", "db-creds", level="Metadata"),
         [x("secret-get", 0, "high", {"name": "db-creds", "namespace": "prod", "response_code": "200",
                                      "authorization_reason": 'RBAC: allowed by RoleBinding "developers-edit/default" of ClusterRole "edit" to Group "developers"'},
            group="alice|prod|db-creds")])
    inner = ev("get", "secrets", "prod", "db-creds", level="Metadata", user="carol")
    inner["annotations"] = {k.replace(".", "_"): v for k, v in inner["annotations"].items()}
    case("a secret read shipped by Elastic Agent (under kubernetes.audit, annotation keys with _)", "secret-get",
         {"@timestamp": inner["stageTimestamp"], "data_stream": {"dataset": "kubernetes.audit_logs"},
          "kubernetes": {"audit": inner}},
         [x("secret-get", 0, fields={"user": "carol", "name": "db-creds",
                                     "authorization_reason": 'RBAC: allowed by ClusterRoleBinding "platform" of ClusterRole "cluster-admin" to Group "platform"'})])
    fb = ev("get", "secrets", "prod", "db-creds", level="Metadata", user="bob")
    case("a secret read inside a Fluent Bit log field", "secret-get",
         {"@timestamp": fb["stageTimestamp"], "log": json.dumps(fb), "kubernetes": {"host": "kind-control-plane"}},
         [x("secret-get", 0, fields={"user": "bob"})])
    case("a v1beta1 secret read", "secret-get",
         beta(ev("get", "secrets", "prod", "tls-cert", level="Metadata", user="bob")),
         [x("secret-get", 0, fields={"user": "bob"})])
    case("the kubelet reading a pod's secret is the control plane", "secret-get",
         ev("get", "secrets", "prod", "db-creds", level="Metadata", user=KUBELET), [])
    case("listing secrets is not a get", "secret-get",
         ev("list", "secrets", "prod", level="Metadata"), [])
    case("a secret read only received", "secret-get",
         lifecycle(ev("get", "secrets", "prod", "db-creds", level="Metadata"), stages=("RequestReceived",)), [])
    case("bob is refused a secret", "secret-get-failed",
         ev("get", "secrets", "kube-system", "admin-token", level="Metadata", user="bob", code=403),
         [x("secret-get-failed", 0, "medium", {"response_code": "403", "response_reason": "Forbidden", "user": "bob"},
            group="bob|kube-system|admin-token")])
    case("a secret that does not exist (404)", "secret-get-failed",
         beta(ev("get", "secrets", "prod", "guess-1", level="Metadata", code=404)),
         [x("secret-get-failed", 0, fields={"response_code": "404"})])
    case("a secret read that succeeded is not a failure", "secret-get-failed",
         ev("get", "secrets", "prod", "db-creds", level="Metadata"), [x("secret-get", 0)])

    # -- ingress-without-tls -------------------------------------------------------------------
    case("an ingress without TLS", "ingress-without-tls",
         ev("create", "ingresses", "shop", "web", group="networking.k8s.io", body=ingress("web", "shop", ["shop.example.com", "www.shop.example.com"])),
         [x("ingress-without-tls", 0, "medium", {"hosts": "shop.example.com,www.shop.example.com", "name": "web"},
            group="alice|shop|web")])
    case("a v1beta1 ingress with an empty tls list", "ingress-without-tls",
         beta(ev("create", "ingresses", "shop", "admin", group="networking.k8s.io", level="Request",
                 body=ingress("admin", "shop", ["admin.shop.example.com"], tls=[]))),
         [x("ingress-without-tls", 0, fields={"hosts": "admin.shop.example.com"})])
    case("an ingress with TLS", "ingress-without-tls",
         ev("create", "ingresses", "shop", "web", group="networking.k8s.io",
            body=ingress("web", "shop", ["shop.example.com"], tls=[{"hosts": ["shop.example.com"], "secretName": "shop-tls"}])), [])
    case("Metadata level: whether it has TLS is unknown", "ingress-without-tls",
         meta(ev("create", "ingresses", "shop", "web", group="networking.k8s.io", body=ingress("web", "shop", ["shop.example.com"]))), [])
    case("a forbidden ingress create", "ingress-without-tls",
         ev("create", "ingresses", "shop", "web", group="networking.k8s.io", body=ingress("web", "shop", ["shop.example.com"]), code=403), [])

    # -- untrusted nodes -------------------------------------------------------------------------
    nodes_cfg = {"allowed_nodes": "kind-control-plane,kind-worker*"}
    rogue = control_plane("system:node:rogue-1", ["system:nodes", "system:authenticated"])
    case("a node outside the allowed names registers", "untrusted-node-joined",
         ev("create", "nodes", None, "rogue-1", body=node("rogue-1"), user=rogue, ip="192.0.2.200", ua="kubelet/v1.29.2 (linux/amd64) kubernetes/4b8e819"),
         [x("untrusted-node-joined", 0, "high", {"node": "rogue-1", "user": "system:node:rogue-1", "source_ip": "192.0.2.200"},
            group="rogue-1|system:node:rogue-1")], config=nodes_cfg)
    case("a v1beta1 Metadata-level node registration", "untrusted-node-joined",
         beta(ev("create", "nodes", None, "rogue-2", level="Metadata", user=control_plane("system:node:rogue-2", ["system:nodes"]))),
         [x("untrusted-node-joined", 0, fields={"node": "rogue-2"})], config=nodes_cfg)
    case("a listed worker joins", "untrusted-node-joined",
         ev("create", "nodes", None, "kind-worker3", body=node("kind-worker3"), user=control_plane("system:node:kind-worker3", ["system:nodes"])),
         [], config=nodes_cfg)
    case("by default every node is allowed (Falco's default)", "untrusted-node-joined",
         ev("create", "nodes", None, "rogue-1", body=node("rogue-1"), user=rogue), [], config={})
    case("a node patching its status is no join", "untrusted-node-joined",
         ev("patch", "nodes", None, "rogue-1", sub="status", body={"status": {}}, user=rogue), [], config=nodes_cfg)
    case("a node refused registration", "untrusted-node-join-failed",
         ev("create", "nodes", None, "rogue-1", body=node("rogue-1"), user=control_plane("system:bootstrap:abcdef", ["system:bootstrappers"]), code=403),
         [x("untrusted-node-join-failed", 0, "medium", {"node": "rogue-1", "response_code": "403", "response_reason": "Forbidden",
                                                        "user": "system:bootstrap:abcdef"})], config=nodes_cfg)
    case("a join that succeeded is no failed join", "untrusted-node-join-failed",
         ev("create", "nodes", None, "rogue-1", body=node("rogue-1"), user=rogue),
         [x("untrusted-node-joined", 0)], config=nodes_cfg)
    case("a listed node re-registering (409) after a kubelet restart", "untrusted-node-join-failed",
         ev("create", "nodes", None, "kind-worker", body=node("kind-worker"), user=control_plane("system:node:kind-worker", ["system:nodes"]), code=409),
         [], config=nodes_cfg)


build()
json.dump({"cases": CASES}, sys.stdout, indent=2, ensure_ascii=False)
sys.stdout.write("\n")
