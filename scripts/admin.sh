#!/usr/bin/env bash
# The operator's API from the shell, against the local registry by default.
#   scripts/admin.sh user LOGIN
#   scripts/admin.sh org LOGIN OWNER
#   scripts/admin.sh member ORG LOGIN member|owner
#   scripts/admin.sh remove-member ORG LOGIN        lists the package roles LOGIN keeps there
#   scripts/admin.sh token LOGIN SCOPE[,SCOPE...] [NOTE]     prints the token once
#   scripts/admin.sh tokens LOGIN                   ids, notes, scopes, dates; never a secret
#   scripts/admin.sh revoke TOKEN_ID
#   scripts/admin.sh suspend LOGIN | unsuspend LOGIN
# REGISTRY (default https://127.0.0.1:8787) and ADMIN_TOKEN (default: from .dev.vars).
# TLS certificates are verified, except the local dev server's self-signed one (a
# REGISTRY on 127.0.0.1 or localhost); ADMIN_INSECURE=1 skips verification elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
REGISTRY=${REGISTRY:-https://127.0.0.1:${PORT:-8787}}
if [ -z "${ADMIN_TOKEN:-}" ] && [ -f .dev.vars ]; then
  ADMIN_TOKEN=$(sed -n 's/^ADMIN_TOKEN="\(.*\)"$/\1/p' .dev.vars)
fi
: "${ADMIN_TOKEN:?set ADMIN_TOKEN or run make dev once to create .dev.vars}"

insecure=()
case "$REGISTRY" in
  https://127.0.0.1[:/]* | https://127.0.0.1 | https://localhost[:/]* | https://localhost) insecure=(-k) ;;
esac
[ "${ADMIN_INSECURE:-}" = 1 ] && insecure=(-k)

call() { # METHOD PATH [JSON]
  curl -sS "${insecure[@]}" -X "$1" "$REGISTRY$2" -H "Authorization: Bearer $ADMIN_TOKEN" \
    -H 'Content-Type: application/json' ${3:+--data "$3"} -w '\n'
}

case "${1:-}" in
  user)   call POST /admin/users "{\"login\":\"$2\"}" ;;
  org)    call POST /admin/orgs "{\"login\":\"$2\",\"owner\":\"$3\"}" ;;
  member) call PUT "/admin/orgs/$2/members/$3" "{\"role\":\"$4\"}" ;;
  remove-member) call DELETE "/admin/orgs/$2/members/$3" ;;
  token)
    scopes=$(printf '"%s",' ${3//,/ }); scopes="[${scopes%,}]"
    call POST "/admin/users/$2/tokens" "{\"scopes\":$scopes,\"note\":\"${4:-cli}\"}" ;;
  tokens) call GET "/admin/users/$2/tokens" ;;
  revoke) call DELETE "/admin/tokens/$2" ;;
  suspend | unsuspend) call POST "/admin/users/$2/$1" ;;
  *) sed -n '2,13p' "$0" >&2; exit 2 ;;
esac
