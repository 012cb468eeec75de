#!/usr/bin/env python3
"""Generate cases.json for the k8scop-correlation pack: `python3 gen_cases.py`
in this folder. Each case is one sequence of audit events (one run of the
pack); every request is logged at the stages the API server logs it at, with
stable audit ids (uuid5 of the request) and times, so the output is the same
at every run."""
import json
import os
import uuid
from datetime import datetime, timedelta, timezone

P = "k8scop-correlation/"
BURST, RBAC, UA, IP, AUTH, CP = (P + r for r in [
    "secret-read-burst", "rbac-change-then-workload-change", "new-user-agent",
    "new-source-ip", "auth-failures-then-success", "control-plane-unexpected-client"])
KUBECTL = "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819"


import os as _os
import sys as _sys

# One table of the control plane's own agents for every pack's cases.
_sys.path.insert(0, _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "..", "..", "tests"))
from gen_control_plane import component_agent  # noqa: E402


KUBECTL_NEW = "kubectl/v1.30.1 (linux/amd64) kubernetes/7c48c2b"
T0 = datetime(2024, 3, 1, 10, 0, 0, tzinfo=timezone.utc)
GROUPS = {"pods": "", "secrets": "", "configmaps": "", "nodes": "", "namespaces": "",
          "deployments": "apps", "daemonsets": "apps", "statefulsets": "apps", "replicasets": "apps",
          "jobs": "batch", "cronjobs": "batch",
          "roles": "rbac.authorization.k8s.io", "clusterroles": "rbac.authorization.k8s.io",
          "rolebindings": "rbac.authorization.k8s.io", "clusterrolebindings": "rbac.authorization.k8s.io",
          "selfsubjectaccessreviews": "authorization.k8s.io", "leases": "coordination.k8s.io",
          "endpointslices": "discovery.k8s.io"}
VERSIONS = {"": "v1", "apps": "v1", "batch": "v1", "rbac.authorization.k8s.io": "v1",
            "authorization.k8s.io": "v1", "coordination.k8s.io": "v1", "discovery.k8s.io": "v1"}


def ts(secs):
    return (T0 + timedelta(seconds=secs)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def uri(resource, ns, name, group, sub, query):
    base = "/api/v1" if group == "" else f"/apis/{group}/{VERSIONS[group]}"
    path = base + (f"/namespaces/{ns}" if ns else "") + f"/{resource}" + (f"/{name}" if name else "")
    if sub:
        path += f"/{sub}"
    return path + (f"?{query}" if query else "")


def request(user, verb, resource, t, ns="", name="", code=200, *, ip="10.0.0.5", ua=None,
            api="v1", level="Metadata", stages=("RequestReceived", "ResponseComplete"),
            sub="", query="", request_object=None, response_object=None, groups=None,
            duration=0.03, impersonate=None):
    """Every stage of one request, as the API server logs them."""
    if ua is None:
        ua = component_agent(user or "") or KUBECTL
    if user == "system:apiserver" and ip == "10.0.0.5":
        ip = "::1"
    group = GROUPS[resource] if resource else ""
    aid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{user}{verb}{resource}{ns}{name}{t}{ip}{ua}{code}"))
    out = []
    for stage in stages:
        end = t + (0 if stage == "RequestReceived" else duration)
        e = {"kind": "Event", "apiVersion": f"audit.k8s.io/{api}", "level": level, "auditID": aid,
             "stage": stage,
             "requestURI": uri(resource, ns, name, group, sub, query) if resource else query or "/api",
             "verb": verb,
             "user": {} if user is None else {"username": user, "groups": groups or ["system:authenticated"]},
             "sourceIPs": [ip], "userAgent": ua}
        if impersonate:
            e["impersonatedUser"] = {"username": impersonate, "groups": ["system:authenticated"]}
        if resource:
            ref = {"resource": resource, "apiVersion": VERSIONS[group]}
            if group:
                ref["apiGroup"] = group
            if ns:
                ref["namespace"] = ns
            if name:
                ref["name"] = name
            if sub:
                ref["subresource"] = sub
            e["objectRef"] = ref
        if stage != "RequestReceived":
            status = {"metadata": {}, "code": code}
            if code >= 400:
                status["status"] = "Failure"
                status["reason"] = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                                    409: "AlreadyExists", 422: "Invalid", 500: "InternalError"}[code]
            if code == 401:
                status = {"metadata": {}, "message": "Authentication failed, attempted: bearer", "code": 401}
            e["responseStatus"] = status
        if level == "RequestResponse" and request_object is not None:
            e["requestObject"] = request_object
        if level == "RequestResponse" and response_object is not None and stage == "ResponseComplete":
            e["responseObject"] = response_object
        if api == "v1beta1":
            # Old API servers: the event time in `timestamp` and metadata only.
            e["timestamp"] = ts(end)
            e["metadata"] = {"creationTimestamp": ts(end)}
        else:
            e["requestReceivedTimestamp"] = ts(t)
            e["stageTimestamp"] = ts(end)
        if code != 401 and stage != "RequestReceived":
            decision = "forbid" if code == 403 else "allow"
            e["annotations"] = {"authorization.k8s.io/decision": decision,
                                "authorization.k8s.io/reason": "" if decision == "forbid" else "RBAC: allowed"}
        out.append(e)
    return out


def failed_authn(ip, t, verb="list", resource="secrets", ns="", ua="python-requests/2.31.0"):
    """A failed authentication is logged at ResponseStarted only, with no user."""
    return request(None, verb, resource, t, ns, code=401, ip=ip, ua=ua, stages=("ResponseStarted",))


class Case:
    def __init__(self, name, rule, config=None, batch_size=None):
        self.c = {"name": name, "rule": rule}
        if config:
            self.c["config"] = config
        if batch_size:
            self.c["batch_size"] = batch_size
        self.events = []
        self.expect = []

    def add(self, events):
        """Append events; the index of the last one (the final stage)."""
        self.events.extend(events)
        return len(self.events) - 1

    def fires(self, rule, event, severity=None, group=None, **fields):
        x = {"rule": rule, "event": event}
        if severity:
            x["severity"] = severity
        if group is not None:
            x["group"] = group
        if "title" in fields:
            x["title"] = fields.pop("title")
        if fields:
            x["fields"] = fields
        self.expect.append(x)

    def done(self):
        self.c["events"] = self.events
        self.c["expect"] = self.expect
        return self.c


cases = []

# ---------------------------------------------------------------- secret-read-burst
c = Case("eve reads 10 secrets of two namespaces in 45 s (v1, Metadata, every stage, batches of 3)", BURST,
         batch_size=3)
for i in range(10):
    ns = "prod" if i % 2 == 0 else "payments"
    last = c.add(request("eve", "get", "secrets", i * 5, ns, f"db-credentials-{i}", ip="198.51.100.23"))
c.fires(BURST, last, "high", "eve", user="eve", secret_count="10", window_seconds="60",
        burst_seconds="45", namespaces="payments, prod", source_ip="198.51.100.23",
        first_read_at="2024-03-01T10:00:00.030Z",
        secrets="prod/db-credentials-0, payments/db-credentials-1, prod/db-credentials-2, "
                "payments/db-credentials-3, prod/db-credentials-4, payments/db-credentials-5, "
                "prod/db-credentials-6, payments/db-credentials-7, prod/db-credentials-8, "
                "payments/db-credentials-9")
cases.append(c.done())

c = Case("v1beta1 RequestResponse: lists, a watch and gets by a token, threshold 4", BURST,
         config={"secret_burst_threshold": "4", "secret_burst_window_seconds": "30"})
c.add(request("system:serviceaccount:ci:deployer", "list", "secrets", 0, api="v1beta1", level="RequestResponse",
              ua="python-requests/2.31.0", response_object={"kind": "SecretList", "apiVersion": "v1", "items": []}))
c.add(request("system:serviceaccount:ci:deployer", "list", "secrets", 2, "kube-system", api="v1beta1",
              level="RequestResponse", ua="python-requests/2.31.0"))
c.add(request("system:serviceaccount:ci:deployer", "watch", "secrets", 4, "monitoring", api="v1beta1",
              ua="python-requests/2.31.0", stages=("RequestReceived", "ResponseStarted", "ResponseComplete"),
              query="watch=true", duration=10))
last = c.add(request("system:serviceaccount:ci:deployer", "get", "secrets", 20, "prod", "tls-cert", api="v1beta1",
                     level="RequestResponse", ua="python-requests/2.31.0"))
c.fires(BURST, last, "high", "system:serviceaccount:ci:deployer", secret_count="4", window_seconds="30",
        namespaces="*, kube-system, monitoring, prod",
        secrets="*/*, kube-system/*, monitoring/*, prod/tls-cert")
cases.append(c.done())

c = Case("nine distinct secrets, one read twice, is no burst", BURST)
for i in range(9):
    c.add(request("eve", "get", "secrets", i * 2, "prod", f"s-{i}"))
c.add(request("eve", "get", "secrets", 30, "prod", "s-3"))
cases.append(c.done())

c = Case("ten secret reads spread over two minutes is no burst", BURST, batch_size=4)
for i in range(10):
    c.add(request("eve", "get", "secrets", i * 13, "prod", f"s-{i}"))
cases.append(c.done())

c = Case("refused, missing, failed and unfinished reads do not count", BURST)
for i in range(4):
    c.add(request("eve", "get", "secrets", i, "prod", f"forbidden-{i}", code=403))
for i in range(3):
    c.add(request("eve", "get", "secrets", 5 + i, "prod", f"missing-{i}", code=404))
c.add(request("eve", "get", "secrets", 9, "prod", "panicked", code=500, stages=("RequestReceived", "Panic")))
# Watches still open: ResponseStarted only.
for i in range(4):
    c.add(request("eve", "watch", "secrets", 10 + i, f"ns-{i}", stages=("RequestReceived", "ResponseStarted"),
                  query="watch=true"))
cases.append(c.done())

c = Case("kubelets and kube-system controllers reading secrets is chatter", BURST)
for i in range(12):
    c.add(request(f"system:node:worker-{i % 3}", "get", "secrets", i, "prod", f"s-{i}", ip="172.18.0.3",
                  ua="kubelet/v1.29.2 (linux/amd64) kubernetes/4b8e819", groups=["system:nodes", "system:authenticated"]))
    c.add(request("system:serviceaccount:kube-system:generic-garbage-collector", "list", "secrets", i, f"ns-{i}",
                  ip="172.18.0.2", ua="kube-controller-manager/v1.29.2 (linux/amd64) kubernetes/4b8e819/system:serviceaccount:kube-system:generic-garbage-collector"))
cases.append(c.done())

c = Case("ten users reading one secret each is no burst", BURST)
for i in range(10):
    c.add(request(f"user-{i}", "get", "secrets", i, "prod", f"s-{i}"))
cases.append(c.done())

# ---------------------------------------------------------------- rbac-change-then-workload-change
binding = {"kind": "ClusterRoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1",
           "metadata": {"name": "mallory-admin"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
           "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "kube-public"}]}
daemonset = {"kind": "DaemonSet", "apiVersion": "apps/v1", "metadata": {"name": "node-agent", "namespace": "kube-public"},
             "spec": {"selector": {"matchLabels": {"app": "node-agent"}},
                      "template": {"metadata": {"labels": {"app": "node-agent"}},
                                   "spec": {"hostPID": True, "containers": [
                                       {"name": "agent", "image": "ghcr.io/evil/miner:1.0",
                                        "securityContext": {"privileged": True}}]}}}}
c = Case("mallory binds cluster-admin, then creates a privileged daemonset 40 s later (batches of 1)", RBAC,
         batch_size=1)
c.add(request("mallory", "get", "clusterroles", 0, name="cluster-admin", ip="203.0.113.7"))
c.add(request("mallory", "create", "clusterrolebindings", 2, name="mallory-admin", code=201, level="RequestResponse",
              request_object=binding, response_object=binding, ip="203.0.113.7"))
last = c.add(request("mallory", "create", "daemonsets", 42, "kube-public", "node-agent", code=201, level="RequestResponse",
                     request_object=daemonset, response_object=daemonset, ip="203.0.113.7"))
c.fires(RBAC, last, "high", "mallory|clusterrolebindings||mallory-admin", user="mallory",
        rbac_object="clusterrolebindings mallory-admin", rbac_name="mallory-admin", rbac_verb="create", rbac_resource="clusterrolebindings",
        workload="daemonsets kube-public/node-agent", images="ghcr.io/evil/miner:1.0", gap_seconds="40",
        rbac_at="2024-03-01T10:00:02.030Z", rbac_changes="1", namespace="kube-public", verb="create")
cases.append(c.done())

c = Case("v1beta1 Metadata: a role patched, then a deployment's image patched 5 minutes later", RBAC)
c.add(request("bob", "patch", "roles", 0, "prod", "deployer", api="v1beta1"))
c.add(request("bob", "update", "configmaps", 60, "prod", "settings", api="v1beta1"))
last = c.add(request("bob", "patch", "deployments", 300, "prod", "web", api="v1beta1"))
c.fires(RBAC, last, "high", "bob|roles|prod|deployer", rbac_object="roles prod/deployer",
        workload="deployments prod/web", gap_seconds="300", rbac_verb="patch", rbac_namespace="prod")
cases.append(c.done())

c = Case("impersonating: the request's user is the identity that changed both", RBAC)
c.add(request("alice", "create", "rolebindings", 0, "dev", "edit-me", code=201, impersonate="system:admin"))
last = c.add(request("alice", "create", "jobs", 10, "dev", "backup", code=201))
c.fires(RBAC, last, group="alice|rolebindings|dev|edit-me", rbac_impersonated_user="system:admin", workload="jobs dev/backup")
cases.append(c.done())

c = Case("a forbidden role binding, then a pod: no RBAC change happened", RBAC)
c.add(request("mallory", "create", "rolebindings", 0, "prod", "escalate", code=403))
c.add(request("mallory", "create", "pods", 5, "prod", "shell", code=201))
cases.append(c.done())

c = Case("workload changes more than 10 minutes after the RBAC change", RBAC)
c.add(request("bob", "update", "clusterroles", 0, name="ops"))
c.add(request("bob", "create", "deployments", 601, "prod", "web", code=201))
cases.append(c.done())

c = Case("workload first, RBAC after; or by two different users", RBAC)
c.add(request("bob", "create", "statefulsets", 0, "prod", "db", code=201))
c.add(request("bob", "create", "roles", 10, "prod", "db-reader", code=201))
c.add(request("carol", "create", "rolebindings", 20, "prod", "db-reader", code=201))
c.add(request("dave", "create", "cronjobs", 30, "prod", "report", code=201))
cases.append(c.done())

c = Case("refused and dry-run workload changes, reads of roles, and pods/exec are not the sequence", RBAC)
c.add(request("erin", "get", "roles", 0, "prod", "admin"))
c.add(request("erin", "create", "pods", 1, "prod", "p1", code=201))
c.add(request("erin", "create", "rolebindings", 2, "prod", "rb", code=201))
c.add(request("erin", "create", "deployments", 3, "prod", "web", code=409))
c.add(request("erin", "create", "jobs", 4, "prod", "j", code=422))
c.add(request("erin", "create", "pods", 5, "prod", "dry", code=201, query="dryRun=All"))
c.add(request("erin", "create", "pods", 6, "prod", "web-0", code=101, sub="exec",
              query="command=sh&container=app&stdin=true&tty=true"))
c.add(request("erin", "patch", "deployments", 7, "prod", "web", code=200, sub="scale"))
cases.append(c.done())

c = Case("controllers creating RBAC and workloads is chatter", RBAC)
cm = "system:serviceaccount:kube-system:"
c.add(request(cm + "clusterrole-aggregation-controller", "update", "clusterroles", 0, name="admin", ip="172.18.0.2"))
c.add(request(cm + "replicaset-controller", "create", "pods", 1, "prod", "web-7d9f-abcde", code=201, ip="172.18.0.2"))
c.add(request("system:kube-controller-manager", "create", "rolebindings", 2, "kube-system", "x", code=201, ip="172.18.0.2"))
c.add(request(cm + "deployment-controller", "update", "replicasets", 3, "prod", "web-7d9f", ip="172.18.0.2"))
c.add(request("system:kube-controller-manager", "update", "replicasets", 4, "prod", "web-7d9f", ip="172.18.0.2"))
cases.append(c.done())

# ---------------------------------------------------------------- new-user-agent
c = Case("alice, known for an hour with kubectl, suddenly uses python-requests (default learning)", UA)
for i in range(21):
    c.add(request("alice", "get", "pods", i * 180, "prod", f"web-{i}"))
last = c.add(request("alice", "list", "secrets", 3800, "prod", ua="python-requests/2.31.0"))
c.fires(UA, last, "medium", "alice|python-requests", user="alice", user_agent="python-requests/2.31.0",
        user_agent_family="python-requests", previous_user_agents="kubectl (linux/amd64)",
        known_since="2024-03-01T10:00:00.030Z", events_seen="22", source_ip="10.0.0.5")
cases.append(c.done())

LEARNT = {"first_seen_learn_events": "3", "first_seen_learn_seconds": "60"}
c = Case("v1beta1, every stage: a request with a new user agent alerts once, at the first stage with the answer", UA,
         config=LEARNT, batch_size=2)
for i in range(4):
    c.add(request("bob", "list", "pods", i * 30, "dev", api="v1beta1"))
last = c.add(request("bob", "get", "pods", 200, "dev", "api", api="v1beta1", ua="kubectl/v1.29.2 (darwin/arm64) kubernetes/4b8e819",
                     stages=("RequestReceived", "ResponseStarted", "ResponseComplete")))
# Counted at ResponseStarted, the first stage with the answer (the host
# folds the others).
c.fires(UA, last - 1, group="bob|kubectl (darwin/arm64)", previous_user_agents="kubectl (linux/amd64)")
cases.append(c.done())

c = Case("a kubectl upgrade is the same user agent family", UA, config=LEARNT)
for i in range(4):
    c.add(request("bob", "list", "pods", i * 30, "dev"))
c.add(request("bob", "list", "pods", 200, "dev", ua=KUBECTL_NEW))
cases.append(c.done())

c = Case("a new user agent during the learning period is learnt, not reported", UA, config=LEARNT)
c.add(request("carol", "list", "pods", 0, "dev"))
c.add(request("carol", "list", "pods", 10, "dev", ua="k9s/v0.32.4 (linux/amd64) kubernetes/$Format"))
for i in range(3):
    c.add(request("carol", "list", "pods", 70 + i, "dev"))
c.add(request("carol", "list", "pods", 100, "dev", ua="k9s/v0.32.5 (linux/amd64) kubernetes/$Format"))
cases.append(c.done())

c = Case("control plane, nodes and anonymous changing user agents is chatter", UA, config=LEARNT)
for i in range(5):
    c.add(request("system:kube-scheduler", "list", "pods", i * 30, ua="kube-scheduler/v1.29.2 (linux/amd64) kubernetes/4b8e819/scheduler", ip="172.18.0.2"))
    c.add(request("system:node:worker-1", "get", "nodes", i * 30, name="worker-1", ua="kubelet/v1.29.2 (linux/amd64) kubernetes/4b8e819", ip="172.18.0.3"))
    c.add(request("system:anonymous", "get", "", i * 30, query="/healthz", ua=f"probe/{i}", ip=f"10.2.0.{i}"))
c.add(request("system:kube-scheduler", "list", "pods", 200, ua="kube-scheduler/v1.30.0 (linux/arm64) kubernetes/7c48c2b/scheduler", ip="172.18.0.9"))
curl = c.add(request("system:node:worker-1", "get", "nodes", 200, name="worker-1", ua="curl/8.5.0", ip="172.18.0.9"))
# Not a new agent of a profiled identity, but a node's credential in curl.
c.fires(CP, curl, "high", "system:node:worker-1|curl/8.5.0", user="system:node:worker-1", user_agent="curl/8.5.0")
cases.append(c.done())

# ---------------------------------------------------------------- new-source-ip
c = Case("dave's credentials used from a new address", IP, config=LEARNT)
for i in range(4):
    c.add(request("dave", "get", "deployments", i * 30, "prod", "web", ip="10.0.0.8"))
last = c.add(request("dave", "get", "deployments", 300, "prod", "web", ip="198.51.100.77", level="RequestResponse"))
c.fires(IP, last, "low", "dave|198.51.100.77", user="dave", source_ip="198.51.100.77",
        previous_source_ips="10.0.0.8", events_seen="5")
cases.append(c.done())

c = Case("service accounts are profiled when the operator asks (v1beta1)", IP,
         config=dict(LEARNT, new_source_ip_ignore_users=""))
sa = "system:serviceaccount:prod:web"
for i in range(4):
    c.add(request(sa, "get", "configmaps", i * 30, "prod", "web", ip="10.244.1.17", ua="web/1.0", api="v1beta1"))
last = c.add(request(sa, "get", "configmaps", 200, "prod", "web", ip="10.244.2.4", ua="web/1.0", api="v1beta1"))
c.fires(IP, last, group=sa + "|10.244.2.4", previous_source_ips="10.244.1.17")
cases.append(c.done())

c = Case("by default a service account's pod moving to a new IP is not reported", IP, config=LEARNT)
for i in range(4):
    c.add(request(sa, "get", "configmaps", i * 30, "prod", "web", ip="10.244.1.17", ua="web/1.0"))
c.add(request(sa, "get", "configmaps", 200, "prod", "web", ip="10.244.2.4", ua="web/1.0"))
cases.append(c.done())

c = Case("trusted address ranges and learning-period addresses are not reported", IP,
         config=dict(LEARNT, ignore_source_ips="192.168.*"))
c.add(request("dave", "get", "pods", 0, "prod", "web", ip="10.0.0.8"))
c.add(request("dave", "get", "pods", 10, "prod", "web", ip="10.0.0.9"))
for i in range(3):
    c.add(request("dave", "get", "pods", 70 + i, "prod", "web", ip="10.0.0.8"))
c.add(request("dave", "get", "pods", 200, "prod", "web", ip="192.168.40.2"))
c.add(request("dave", "get", "pods", 201, "prod", "web", ip="10.0.0.9"))
cases.append(c.done())

# ---------------------------------------------------------------- auth-failures-then-success
c = Case("six failed logins from one address, then jenkins authenticates from it", AUTH, batch_size=2)
for i in range(6):
    c.add(failed_authn("203.0.113.50", i * 7))
last = c.add(request("jenkins", "list", "secrets", 50, "prod", ip="203.0.113.50", ua="python-requests/2.31.0"))
c.fires(AUTH, last, "high", "source_ip|203.0.113.50", user="jenkins", failure_key="source_ip",
        failure_count="6", window_seconds="300", first_failure_at="2024-03-01T10:00:00.030Z",
        failed_requests="401 list secrets; 401 list secrets; 401 list secrets; 401 list secrets; "
                        "401 list secrets; 401 list secrets",
        source_ip="203.0.113.50")
cases.append(c.done())

c = Case("v1beta1: five forbidden requests by intern, then an allowed one (every stage)", AUTH)
for i, r in enumerate(["secrets", "nodes", "clusterroles", "rolebindings", "pods"]):
    c.add(request("intern", "list", r, i * 10, "" if r in ("nodes", "clusterroles") else "prod", code=403,
                  api="v1beta1"))
last = c.add(request("intern", "get", "configmaps", 60, "prod", "app-config", api="v1beta1"))
c.fires(AUTH, last, "medium", "user|intern", failure_key="user", failure_count="5",
        failed_requests="403 list pods in prod; 403 list rolebindings in prod; 403 list clusterroles; "
                        "403 list nodes; 403 list secrets in prod")
cases.append(c.done())

c = Case("four failed logins are below the threshold", AUTH)
for i in range(4):
    c.add(failed_authn("203.0.113.51", i))
c.add(request("jenkins", "list", "pods", 10, "prod", ip="203.0.113.51"))
cases.append(c.done())

c = Case("failures spread over more than the window, or from another address, do not count", AUTH)
for i in range(5):
    c.add(failed_authn("203.0.113.52", i * 100))
c.add(request("jenkins", "list", "pods", 601, "prod", ip="203.0.113.52"))
for i in range(5):
    c.add(failed_authn("203.0.113.53", 700 + i))
c.add(request("jenkins", "list", "pods", 710, "prod", ip="203.0.113.54"))
cases.append(c.done())

c = Case("after forbidden requests, discovery and self-reviews are not a success", AUTH)
for i in range(5):
    c.add(request("intern", "delete", "pods", i, "prod", f"web-{i}", code=403))
c.add(request("intern", "get", "", 10, query="/api"))
c.add(request("intern", "create", "selfsubjectaccessreviews", 11, code=201))
cases.append(c.done())

c = Case("a kubelet refused, then working, is chatter", AUTH)
for i in range(6):
    c.add(request("system:node:worker-2", "get", "secrets", i, "prod", "not-mine", code=403, ip="172.18.0.4",
                  ua="kubelet/v1.29.2 (linux/amd64) kubernetes/4b8e819"))
c.add(request("system:node:worker-2", "get", "pods", 10, "prod", "web-0", ip="172.18.0.4",
              ua="kubelet/v1.29.2 (linux/amd64) kubernetes/4b8e819"))
cases.append(c.done())

# ---------------------------------------------------------------- control-plane-unexpected-client
RS = "system:serviceaccount:kube-system:replicaset-controller"
SA_GROUPS = ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"]
KUBECTL_130 = "kubectl/v1.29.0 (linux/amd64) kubernetes/3f7a50f"
c = Case("a stolen replicaset-controller token used from kubectl: one group", CP)
# The controller at work first: its own agent is the control plane.
c.add(request(RS, "create", "pods", 0, "shop", "", code=201, ip="172.18.0.2", groups=SA_GROUPS))
first = c.add(request(RS, "list", "secrets", 10, "kube-system", ua=KUBECTL_130, ip="198.51.100.66", groups=SA_GROUPS))
second = c.add(request(RS, "create", "pods", 11, "kube-system", code=201, ua=KUBECTL_130, ip="198.51.100.66", groups=SA_GROUPS))
denied = c.add(request(RS, "get", "nodes", 12, code=403, ua=KUBECTL_130, ip="198.51.100.66", groups=SA_GROUPS))
for i in (first, second, denied):
    c.fires(CP, i, "high", RS + "|" + KUBECTL_130, user=RS, user_agent=KUBECTL_130,
            expected_components="upstream kube-controller-manager controllers, microk8s kubelite controllers, k3s k3s controllers")
cases.append(c.done())

c = Case("the controller-manager's certificate from python, the API server's from outside", CP)
py = c.add(request("system:kube-controller-manager", "get", "secrets", 0, "kube-system", "bootstrap-token-abcdef",
                   ua="python-requests/2.31.0", ip="203.0.113.50"))
api = c.add(request("system:apiserver", "list", "secrets", 1, ua="kube-apiserver/v1.29.2 (linux/amd64) kubernetes/4b8e819",
                    ip="203.0.113.50", groups=["system:masters"]))
none = c.add(request("system:kube-scheduler", "get", "pods", 2, "shop", "web-0", ua="", ip="203.0.113.50"))
c.fires(CP, py, "high", "system:kube-controller-manager|python-requests/2.31.0")
c.fires(CP, api, "high", "system:apiserver|kube-apiserver/v1.29.2 (linux/amd64) kubernetes/4b8e819",
        source_ip="203.0.113.50")
c.fires(CP, none, "high", "system:kube-scheduler|", title="system:kube-scheduler used from (none)")
cases.append(c.done())

c = Case("upstream, MicroK8s and k3s components with their own agents are the control plane", CP)
for i, ua in enumerate(["kube-controller-manager/v1.29.2 (linux/amd64) kubernetes/4b8e819/system:serviceaccount:kube-system:replicaset-controller",
                        "kubelite/v1.25.6 (linux/amd64) kubernetes/a6e2bc6/system:serviceaccount:kube-system:replicaset-controller",
                        "k3s/v1.28.5+k3s1 (linux/amd64) kubernetes/5b2b1b6"]):
    c.add(request(RS, "create", "pods", i, "shop", "", code=201, ua=ua, ip="10.1.0.5", groups=SA_GROUPS))
c.add(request("system:node:mk8s-1", "update", "leases", 5, "kube-node-lease", "mk8s-1",
              ua="kubelite/v1.25.6 (linux/amd64) kubernetes/a6e2bc6", ip="10.1.0.5"))
c.add(request("system:k3s-controller", "patch", "nodes", 6, name="k3s-1",
              ua="k3s/v1.28.5+k3s1 (linux/amd64) kubernetes/5b2b1b6", ip="10.1.0.6"))
c.add(request("system:apiserver", "get", "leases", 7, "kube-system", "apiserver-x",
              ua="kubelite/v1.25.6 (linux/amd64) kubernetes/a6e2bc6", ip="127.0.0.1"))
c.add(request("eks:certificate-controller", "get", "configmaps", 8, "kube-system", "eks-certificates-controller",
              ua="eks-certificates-controller/v0.0.0 (linux/amd64) kubernetes/$Format", ip="10.0.113.236"))
# Not the control plane: ordinary users and other namespaces' service accounts.
c.add(request("alice", "get", "pods", 9, "shop", "web-0", ua="curl/8.5.0"))
c.add(request("system:serviceaccount:shop:web", "get", "configmaps", 10, "shop", "web", ua="python-requests/2.31.0"))
cases.append(c.done())

c = Case("an operator's own component is added with control_plane_agents", CP,
         config={"control_plane_agents": "system:serviceaccount:argocd:*=argocd-application-controller/*"})
argo = "system:serviceaccount:argocd:argocd-application-controller"
c.add(request(argo, "patch", "deployments", 0, "shop", "web", ua="argocd-application-controller/v2.9.3+6eba5be"))
stolen = c.add(request(argo, "list", "secrets", 1, ua=KUBECTL_130, ip="198.51.100.66"))
c.fires(CP, stolen, "high", argo + "|" + KUBECTL_130, expected_components="operator system:serviceaccount:argocd:*")
cases.append(c.done())

c = Case("upstream only: MicroK8s' agent is not the control plane there", CP,
         config={"control_plane_distributions": "upstream"})
mk = c.add(request(RS, "create", "pods", 0, "shop", "", code=201,
                   ua="kubelite/v1.25.6 (linux/amd64) kubernetes/a6e2bc6/system:serviceaccount:kube-system:replicaset-controller",
                   ip="10.1.0.5", groups=SA_GROUPS))
c.fires(CP, mk, "high", RS + "|kubelite/v1.25.6 (linux/amd64) kubernetes/a6e2bc6/system:serviceaccount:kube-system:replicaset-controller",
        expected_components="upstream kube-controller-manager controllers")
cases.append(c.done())

doc = {"cases": cases}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases.json"), "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
print(len(cases), "cases")
