//! Who the control plane is. Its components and the nodes read, watch and
//! change objects all day as the cluster working as designed; detection
//! packs ignore them by default (each pack's `ignore_users` setting), so
//! that a log of pure chatter raises nothing.

/// The API server, scheduler, controller-manager (and its controllers'
/// kube-system service accounts), kube-proxy, the volume scheduler and the
/// kubelets, as `Patterns` (`*` ends a prefix).
pub const CONTROL_PLANE_USERS: &[&str] = &[
    "system:apiserver",
    "system:kube-scheduler",
    "system:kube-controller-manager",
    "system:kube-proxy",
    "system:volume-scheduler",
    "system:node:*",
    "system:serviceaccount:kube-system:*",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Patterns;

    #[test]
    fn control_plane_identities_match_and_users_do_not() {
        let p = Patterns::new(CONTROL_PLANE_USERS);
        for user in [
            "system:kube-scheduler",
            "system:node:worker-1",
            "system:serviceaccount:kube-system:replicaset-controller",
        ] {
            assert!(p.matches(user), "{user}");
        }
        for user in [
            "alice",
            "system:serviceaccount:default:app",
            "system:anonymous",
        ] {
            assert!(!p.matches(user), "{user}");
        }
    }
}
