//! Container image references (`registry/repository:tag@digest`).
//!
//! Allow-lists of images are usually written as repositories
//! (`registry.k8s.io/kube-proxy`) or registries (`registry.k8s.io/*`),
//! while pods name images with a tag or a digest.

/// The image without its tag and digest: `docker.io/calico/node:v3.26@sha256:..`
/// -> `docker.io/calico/node`. A registry port (`host:5000/x`) is kept.
pub fn repository(image: &str) -> &str {
    let image = image.split_once('@').map_or(image, |(name, _)| name);
    // A tag is a `:` after the last `/`; one before it is a registry port.
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].find(':') {
        Some(colon) => &image[..last_slash + colon],
        None => image,
    }
}

/// The registry host the image is pulled from, `docker.io` when the
/// reference names none (`nginx`, `library/nginx`).
pub fn registry(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_and_registries() {
        for (image, repo, reg) in [
            ("nginx", "nginx", "docker.io"),
            ("nginx:1.25", "nginx", "docker.io"),
            ("library/nginx:1.25", "library/nginx", "docker.io"),
            (
                "docker.io/calico/node:v3.26.1",
                "docker.io/calico/node",
                "docker.io",
            ),
            (
                "registry.k8s.io/kube-proxy@sha256:0123abcd",
                "registry.k8s.io/kube-proxy",
                "registry.k8s.io",
            ),
            (
                "quay.io/calico/node:v3@sha256:ff",
                "quay.io/calico/node",
                "quay.io",
            ),
            (
                "localhost:5000/tools/debug:dev",
                "localhost:5000/tools/debug",
                "localhost:5000",
            ),
            ("localhost/tools", "localhost/tools", "localhost"),
            ("", "", "docker.io"),
        ] {
            assert_eq!(repository(image), repo, "{image}");
            assert_eq!(registry(image), reg, "{image}");
        }
    }
}
