#!/usr/bin/env python3
"""Generate the control-plane chatter of a MicroK8s or a k3s cluster:
host/tests/fixtures/chatter-microk8s.jsonl and chatter-k3s.jsonl.

The logs are SYNTHESIZED, not captured, with samples/gen_chatter.py's request
model (leader election, informers, kubelets, controllers; same timings), in
the identities and user agents each distribution really uses:

- MicroK8s 1.25: one `kubelite` binary runs the API server, controller-manager,
  scheduler, kubelet and kube-proxy, so every one of them sends
  `kubelite/v1.25.6 (linux/amd64) kubernetes/ff2c119`, the controller-manager
  with its controller appended (`.../leader-election`, `.../shared-informers`,
  `.../system:serviceaccount:kube-system:<name>`), the scheduler likewise
  (`.../scheduler`, `.../leader-election`). The API server's own requests come
  over loopback (127.0.0.1), as do the controller-manager's and scheduler's
  (they talk to the local API server). Nodes are `system:node:<hostname>`,
  kube-proxy is `system:kube-proxy`. No static pods (no kube-probe of the API
  server). Kube-system runs Calico (calico-node, calico-kube-controllers),
  CoreDNS and the hostpath provisioner (`microk8s-hostpath`).
- k3s v1.28: one `k3s` binary (`k3s/v1.28.5+k3s1 (linux/amd64) kubernetes/5b2b1b6`),
  its supervisor acting as `system:k3s-controller` (flannel's node
  annotations) and `system:k3s-supervisor` (the deploy and Helm controllers);
  kube-system runs CoreDNS, the local-path provisioner, metrics-server and
  Traefik.

Deterministic (fixed seeds); Python 3 standard library only.

    python3 samples/gen_chatter_distro.py microk8s > host/tests/fixtures/chatter-microk8s.jsonl
    python3 samples/gen_chatter_distro.py k3s > host/tests/fixtures/chatter-k3s.jsonl
"""

import json
import os
import random
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_chatter as g  # noqa: E402

SA_GROUPS = ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"]

# CRDs and other groups the add-ons touch.
g.GROUPS.update({
    "ipamblocks": ("/apis/crd.projectcalico.org/v1", "crd.projectcalico.org", "v1"),
    "blockaffinities": ("/apis/crd.projectcalico.org/v1", "crd.projectcalico.org", "v1"),
    "ipamhandles": ("/apis/crd.projectcalico.org/v1", "crd.projectcalico.org", "v1"),
    "ippools": ("/apis/crd.projectcalico.org/v1", "crd.projectcalico.org", "v1"),
    "felixconfigurations": ("/apis/crd.projectcalico.org/v1", "crd.projectcalico.org", "v1"),
    "clusterinformations": ("/apis/crd.projectcalico.org/v1", "crd.projectcalico.org", "v1"),
    "kubecontrollersconfigurations": ("/apis/crd.projectcalico.org/v1", "crd.projectcalico.org", "v1"),
    "networkpolicies": ("/apis/networking.k8s.io/v1", "networking.k8s.io", "v1"),
    "addons": ("/apis/k3s.cattle.io/v1", "k3s.cattle.io", "v1"),
    "helmcharts": ("/apis/helm.cattle.io/v1", "helm.cattle.io", "v1"),
    "ingressroutes": ("/apis/traefik.containo.us/v1alpha1", "traefik.containo.us", "v1alpha1"),
})


class Distro:
    name = ""
    seed = 0
    agent = ""
    nodes = []
    local_ip = "127.0.0.1"

    def sa(self, name, ua, ip, pod=None):
        who = g.Who(f"system:serviceaccount:kube-system:{name}", SA_GROUPS, ua, ip,
                    g.rbac("ClusterRoleBinding", name, name, "ServiceAccount", f"{name}/kube-system"),
                    uid=str(uuid.UUID(int=g.rng.getrandbits(128), version=4)))
        if pod:
            who.extra = {"authentication.kubernetes.io/pod-name": [pod],
                         "authentication.kubernetes.io/pod-uid": [g.POD_UIDS.setdefault(pod, g.audit_id())]}
        return who

    def install(self):
        """Point gen_chatter's model at this distribution."""
        g.rng = random.Random(self.seed)
        g._rv[0] = 731200
        g.events = []
        cp_node, cp_ip = self.nodes[0]
        g.NODES, g.CP_NODE, g.CP_IP = self.nodes, cp_node, cp_ip
        g.K8S = self.version
        g.POD_UIDS = {}
        g.PODS_ON = self.pods_on()
        g.COREDNS_PODS = [(self.coredns_pod, "10.1.22.2")]
        local = self.local_ip
        agent = self.agent
        rbac = g.rbac
        g.apiserver = lambda: g.Who("system:apiserver", ["system:authenticated", "system:masters"],
                                    agent, local, "", uid="7d3c2b1a-0f9e-4d8c-b7a6-95e4d3c2b1a0")
        g.scheduler = lambda suffix: g.Who(
            "system:kube-scheduler", ["system:authenticated"], f"{agent}/{suffix}", local,
            rbac("ClusterRoleBinding", "system:kube-scheduler", "system:kube-scheduler", "User",
                 "system:kube-scheduler"))
        g.kcm = lambda suffix: g.Who(
            "system:kube-controller-manager", ["system:authenticated"], f"{agent}/{suffix}", local,
            rbac("ClusterRoleBinding", "system:kube-controller-manager", "system:kube-controller-manager",
                 "User", "system:kube-controller-manager"))
        uids = {}

        def controller(name):
            sa = f"system:serviceaccount:kube-system:{name}"
            uid = uids.setdefault(name, str(uuid.UUID(int=g.rng.getrandbits(128), version=4)))
            return g.Who(sa, SA_GROUPS, f"{agent}/{sa}", local,
                         rbac("ClusterRoleBinding", f"system:controller:{name}", f"system:controller:{name}",
                              "ServiceAccount", f"{name}/kube-system"), uid=uid)
        g.controller = controller
        g.kubelet = lambda node, ip: g.Who(f"system:node:{node}", ["system:nodes", "system:authenticated"],
                                           agent, ip, "")
        g.kube_proxy = lambda node, ip: g.Who(
            "system:kube-proxy", ["system:authenticated"], agent, ip,
            rbac("ClusterRoleBinding", "system:node-proxier", "system:node-proxier", "User", "system:kube-proxy"))
        g.coredns = lambda pod, ip: self.sa("coredns", self.coredns_agent, ip, pod)

    def run(self):
        self.install()
        cp_node = self.nodes[0][0]
        g.leader_election(g.kcm("leader-election"), "kube-controller-manager",
                          f"{cp_node}_4f1a6e0b-2c8d-4d7e-9a3b-5e6f7a8b9c0d")
        g.leader_election(g.scheduler("leader-election"), "kube-scheduler",
                          f"{cp_node}_9c2e7b1d-0f4a-4b6c-8d3e-1a2b3c4d5e6f")
        g.apiserver_chatter()
        g.informers()
        g.kubelets()
        g.controllers()
        self.addons()
        # The controller-manager's own health check of the API server.
        for t in g.periodic(30.0, 0.5):
            g.emit(t, g.kcm("kube-controller-manager"), "get", "/healthz", None)
        g.events.sort(key=lambda pair: (pair[0], pair[1]["auditID"], pair[1]["stage"]))
        out = sys.stdout
        for _, e in g.events:
            out.write(json.dumps(e, separators=(", ", ": ")) + "\n")

    def lease_holder(self, who, name, period=2.0, resource="leases"):
        for t in g.periodic(period, 0.05):
            g.emit(t, who, "get", g.path_of(resource, "kube-system", name),
                   g.object_ref(resource, "kube-system", name, None))
            g.emit(t + 0.004, who, "update", g.path_of(resource, "kube-system", name),
                   g.object_ref(resource, "kube-system", name, None))


class MicroK8s(Distro):
    name = "microk8s"
    seed = 25
    version = "v1.25.6"
    agent = "kubelite/v1.25.6 (linux/amd64) kubernetes/ff2c119"
    coredns_agent = "coredns/v0.0.0-master+$Format (linux/amd64) kubernetes/$Format"
    nodes = [("mk8s-1", "10.0.0.11"), ("mk8s-2", "10.0.0.12"), ("mk8s-3", "10.0.0.13")]
    coredns_pod = "coredns-d489fb88-m7rbk"
    calico_pods = {"mk8s-1": "calico-node-8h2kd", "mk8s-2": "calico-node-xq7wl", "mk8s-3": "calico-node-c4zpn"}

    def pods_on(self):
        pods = {n: [("kube-system", self.calico_pods[n], "calico-node")] for n, _ in self.nodes}
        pods["mk8s-1"] += [("kube-system", self.coredns_pod, "coredns"),
                           ("kube-system", "calico-kube-controllers-d8b9b6478-2bxcl", "calico-kube-controllers"),
                           ("kube-system", "hostpath-provisioner-766849dd9d-qg5vt", "microk8s-hostpath")]
        return pods

    def addons(self):
        calico_agent = "calico-node/v0.0.0 (linux/amd64) kubernetes/$Format"
        for node, ip in self.nodes:
            who = self.sa("calico-node", calico_agent, ip, self.calico_pods[node])
            # Felix and the node agent's informers.
            for r in ("nodes", "pods", "namespaces", "serviceaccounts", "endpointslices", "services",
                      "networkpolicies", "felixconfigurations", "ippools", "clusterinformations"):
                g.informer(who, r)
            # The node's IPAM block affinity and the cluster information.
            for t in g.periodic(90.0, 5.0):
                g.emit(t, who, "get", g.path_of("clusterinformations", None, "default"),
                       g.object_ref("clusterinformations", None, "default", None))
                g.emit(t + 0.01, who, "list", g.path_of("blockaffinities") + g.q(
                    labelSelector=f"crd.projectcalico.org/host={node}"),
                       g.object_ref("blockaffinities", None, None, None))
            # The node's NetworkUnavailable condition.
            for t in g.periodic(120.0, 10.0):
                g.emit(t, who, "patch", g.path_of("nodes", None, node, "status"),
                       g.object_ref("nodes", None, node, "status"))
            # calico-node mints the CNI plugin's token.
            for t in g.periodic(150.0, 20.0):
                g.emit(t, who, "create", g.path_of("serviceaccounts", "kube-system", "calico-node", "token"),
                       g.object_ref("serviceaccounts", "kube-system", "calico-node", "token"), code=201)
        kc = self.sa("calico-kube-controllers", "kube-controllers/v0.0.0 (linux/amd64) kubernetes/$Format",
                     "10.1.22.3", "calico-kube-controllers-d8b9b6478-2bxcl")
        for r in ("nodes", "pods", "namespaces", "serviceaccounts", "networkpolicies",
                  "kubecontrollersconfigurations", "ipamblocks"):
            g.informer(kc, r)
        for t in g.periodic(60.0, 3.0):
            g.emit(t, kc, "get", g.path_of("kubecontrollersconfigurations", None, "default"),
                   g.object_ref("kubecontrollersconfigurations", None, "default", None))
            g.emit(t + 0.01, kc, "update", g.path_of("kubecontrollersconfigurations", None, "default", "status"),
                   g.object_ref("kubecontrollersconfigurations", None, "default", "status"))
        hp = self.sa("microk8s-hostpath", "hostpath-provisioner/v0.0.0 (linux/amd64) kubernetes/$Format",
                     "10.1.22.4", "hostpath-provisioner-766849dd9d-qg5vt")
        for r in ("persistentvolumeclaims", "persistentvolumes", "storageclasses"):
            g.informer(hp, r)
        self.lease_holder(hp, "microk8s.io-hostpath", period=5.0, resource="endpoints")


class K3s(Distro):
    name = "k3s"
    seed = 28
    version = "v1.28.5+k3s1"
    agent = "k3s/v1.28.5+k3s1 (linux/amd64) kubernetes/5b2b1b6"
    coredns_agent = "coredns/v0.0.0-master+$Format (linux/amd64) kubernetes/$Format"
    nodes = [("k3s-server", "192.168.56.10"), ("k3s-agent-1", "192.168.56.11")]
    coredns_pod = "coredns-6799fbcd5-9kx2t"

    def pods_on(self):
        return {
            "k3s-server": [("kube-system", self.coredns_pod, "coredns"),
                           ("kube-system", "local-path-provisioner-84db5d44d9-lm4z7",
                            "local-path-provisioner-service-account"),
                           ("kube-system", "metrics-server-67c658944b-7tq4k", "metrics-server"),
                           ("kube-system", "traefik-f4564c4f4-r5gx8", "traefik")],
            "k3s-agent-1": [("kube-system", "svclb-traefik-2b8c1f0e-d9ztw", "svclb")],
        }

    def addons(self):
        agent = self.agent
        server_ip = self.nodes[0][1]
        ctrl = g.Who("system:k3s-controller", ["system:authenticated"], agent, server_ip, "")
        sup = g.Who("system:k3s-supervisor", ["system:authenticated"], agent, "127.0.0.1", "")
        g.informer(ctrl, "nodes")
        for node, ip in self.nodes:
            for t in g.periodic(300.0, 5.0, first=g.rng.uniform(0, 200)):
                g.emit(t, g.Who("system:k3s-controller", ["system:authenticated"], agent, ip, ""),
                       "patch", g.path_of("nodes", None, node), g.object_ref("nodes", None, node, None))
        for r in ("addons", "helmcharts", "configmaps"):
            g.informer(sup, r, "kube-system" if r == "configmaps" else None)
        self.lease_holder(sup, "k3s", period=2.0)
        for t in g.periodic(120.0, 10.0):
            g.emit(t, sup, "update", g.path_of("addons", "kube-system", "coredns", "status"),
                   g.object_ref("addons", "kube-system", "coredns", "status"))
        ccm = g.Who("k3s-cloud-controller-manager", ["system:authenticated"], agent, "127.0.0.1", "")
        self.lease_holder(ccm, "k3s-cloud-controller-manager", period=2.0)
        g.informer(ccm, "nodes")
        lp = self.sa("local-path-provisioner-service-account",
                     "local-path-provisioner/v0.0.0 (linux/amd64) kubernetes/$Format", "10.42.0.3",
                     "local-path-provisioner-84db5d44d9-lm4z7")
        for r in ("persistentvolumeclaims", "persistentvolumes", "storageclasses"):
            g.informer(lp, r)
        self.lease_holder(lp, "rancher.io-local-path", period=5.0)
        ms = self.sa("metrics-server", "metrics-server/v0.6.4 (linux/amd64) kubernetes/$Format", "10.42.0.4",
                     "metrics-server-67c658944b-7tq4k")
        for r in ("nodes", "pods"):
            g.informer(ms, r)
        for t in g.periodic(30.0, 1.0):
            g.emit(t, ms, "create", g.path_of("tokenreviews"), g.object_ref("tokenreviews", None, None, None),
                   code=201)
            g.emit(t + 0.002, ms, "create", g.path_of("subjectaccessreviews"),
                   g.object_ref("subjectaccessreviews", None, None, None), code=201)
        tr = self.sa("traefik", "traefik/2.10.5 (linux/amd64) kubernetes/$Format", "10.42.0.5",
                     "traefik-f4564c4f4-r5gx8")
        # Traefik's informers include secrets (TLS certificates): never
        # chatter, they stay in the log.
        for r in ("ingresses", "services", "endpoints", "secrets", "ingressroutes"):
            g.informer(tr, r)


def main():
    distro = {"microk8s": MicroK8s, "k3s": K3s}[sys.argv[1]]()
    distro.run()


if __name__ == "__main__":
    main()
