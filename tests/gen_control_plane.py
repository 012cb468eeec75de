"""Shared by the packs' case generators (rules-wasm/*/gen_cases.py): the
user agent each control-plane identity sends, as rule-sdk's control_plane
table expects it, so a component's own requests in the cases look like the
control plane and not like a stolen token."""


def component_agent(username):
    """The user agent the control-plane component behind `username` sends
    (the table of rule-sdk's control_plane module), or None for anyone else:
    the control plane's own requests come from its own binaries."""
    build = "v1.29.2 (linux/amd64) kubernetes/4b8e819"
    if username.startswith("system:node:"):
        return f"kubelet/{build}"
    sa = "system:serviceaccount:kube-system:"
    if username.startswith(sa):
        name = username[len(sa):]
        if name == "kube-proxy":
            return f"kube-proxy/{build}"
        if name == "coredns":
            return "coredns/1.11.1 (linux/amd64) kubernetes/4b8e819"
        return f"kube-controller-manager/{build}/{username}"
    return {
        "system:kube-controller-manager": f"kube-controller-manager/{build}/leader-election",
        "system:kube-scheduler": f"kube-scheduler/{build}/scheduler",
        "system:apiserver": f"kube-apiserver/{build}",
        "system:kube-proxy": f"kube-proxy/{build}",
    }.get(username)
