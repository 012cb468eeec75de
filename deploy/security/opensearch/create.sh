#!/usr/bin/env bash
# Create the least-privilege roles, internal users and role mappings k8scop
# and Fluent Bit log in with, on an OpenSearch with its security plugin,
# and print the Secrets to create in the cluster.
#
#   OS_URL=https://opensearch.example.com:9200 \
#   OS_ADMIN_AUTH='admin-user:admin-password' \
#   deploy/security/opensearch/create.sh
#
# OS_ADMIN_AUTH is YOUR administrator's credentials (a user allowed to call
# the security REST API), used here once from your workstation; they are
# never given to k8scop or Fluent Bit. OS_CA: a CA file for curl
# (--cacert), if the cluster's certificate is privately signed. With an
# external identity provider, map the roles to its backend roles instead
# (PUT _plugins/_security/api/rolesmapping/<role> {"backend_roles": [...]}).
#
# Index names as in deploy/security/elasticsearch/create.sh.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
: "${OS_URL:?set OS_URL, e.g. https://opensearch.example.com:9200}"
: "${OS_ADMIN_AUTH:?set OS_ADMIN_AUTH=user:password of an administrator}"
api="$OS_URL/_plugins/_security/api"
curl_os() {
    curl -fsS ${OS_CA:+--cacert "$OS_CA"} -u "$OS_ADMIN_AUTH" \
        -H 'Content-Type: application/json' "$@"
}
password() { openssl rand -base64 24 | tr -d '/+='; }

echo "# Create these Secrets in your cluster:"
for who in k8scop k8scop-fluent-bit; do
    case "$who" in
        k8scop) role="$here/k8scop-role.json" ;;
        *) role="$here/fluent-bit-role.json" ;;
    esac
    secret_password="$(password)"
    curl_os -X PUT "$api/roles/$who" -d @"$role" >/dev/null
    curl_os -X PUT "$api/internalusers/$who" -d "{\"password\": \"$secret_password\"}" >/dev/null
    curl_os -X PUT "$api/rolesmapping/$who" -d "{\"users\": [\"$who\"]}" >/dev/null
    case "$who" in
        k8scop) echo "kubectl -n k8scop create secret generic k8scop-elasticsearch --from-literal=username=k8scop --from-literal=password='$secret_password'" ;;
        *) echo "kubectl -n k8scop-audit create secret generic k8scop-fluent-bit --from-literal=username=k8scop-fluent-bit --from-literal=password='$secret_password'" ;;
    esac
done
