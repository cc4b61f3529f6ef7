"""A local OpenID Connect issuer shaped like GitHub Actions', for trusted-publishing tests.

It serves `/.well-known/openid-configuration` and its JWK set over loopback HTTP, with
keys generated for each run (`cryptography`), and mints identity tokens with PyJWT
carrying GitHub's claims. Keys can be rotated while it runs.
"""
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa


class Issuer:
    def __init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.keys = {}  # kid -> (alg, private key)
        self.fetches = 0
        self.add_key("RS256")
        self.add_key("ES256")
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def add_key(self, alg):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if alg == "RS256" \
            else ec.generate_private_key(ec.SECP256R1())
        kid = f"{alg.lower()}-{uuid.uuid4().hex[:8]}"
        self.keys[kid] = (alg, key)
        return kid

    def kid(self, alg):
        """The newest published key of `alg`."""
        return [k for k, (a, _) in self.keys.items() if a == alg][-1]

    def jwks(self):
        keys = []
        for kid, (alg, key) in self.keys.items():
            jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": alg})
        return {"keys": keys}

    def claims(self, audience, repository="octo/app", workflow="release.yml", ref="refs/tags/v1.0.0",
               environment=None, owner_id="4242", lifetime=300, **overrides):
        """GitHub Actions' claims for a job of `workflow` in `repository`."""
        now = int(time.time())
        owner = repository.split("/")[0]
        workflow_ref = f"{repository}/.github/workflows/{workflow}@{ref}"
        c = {
            "iss": self.url, "aud": audience, "iat": now, "nbf": now, "exp": now + lifetime,
            "jti": str(uuid.uuid4()), "sub": f"repo:{repository}:ref:{ref}",
            "repository": repository, "repository_owner": owner, "repository_owner_id": owner_id,
            "repository_id": "1001", "workflow": workflow, "workflow_ref": workflow_ref,
            "job_workflow_ref": workflow_ref, "ref": ref, "ref_type": "tag" if "/tags/" in ref else "branch",
            "sha": "0123456789abcdef0123456789abcdef01234567", "run_id": "987654", "run_attempt": "1",
            "actor": "octocat", "event_name": "push", "runner_environment": "github-hosted",
        }
        if environment:
            c["environment"] = environment
        c.update(overrides)
        return c

    def token(self, audience, alg="RS256", kid=None, headers=None, **claims):
        kid = kid or self.kid(alg)
        key = self.keys[kid][1] if kid in self.keys else self.keys[self.kid(alg)][1]
        return jwt.encode(self.claims(audience, **claims), key, algorithm=alg, headers={"kid": kid, **(headers or {})})

    def _handler(issuer_self):
        issuer = issuer_self

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive, as issuers serve: the Worker's fetch reuses connections.
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/.well-known/jwks",
                            "id_token_signing_alg_values_supported": ["RS256", "ES256"]}
                elif self.path == "/.well-known/jwks":
                    issuer.fetches += 1
                    body = issuer.jwks()
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler
