"""A kubeconfig ``exec`` credential plugin for the tests, like ``aws eks get-token`` but short-lived.

Each run mints a token valid for K8S_ASSETS_TEST_TOKEN_SECONDS and appends it, with when it was
issued and when it expires, to the JSON-lines file K8S_ASSETS_TEST_ISSUED, which the tests' token
webhook reads to decide what the API server accepts. K8S_ASSETS_TEST_OMIT_EXPIRY=1 leaves
``expirationTimestamp`` out of the ExecCredential, as some plugins do.
"""

import datetime
import json
import math
import os
import secrets
import time


def main() -> None:
    info = json.loads(os.environ.get("KUBERNETES_EXEC_INFO") or "{}")
    now = time.time()
    expires = now + float(os.environ["K8S_ASSETS_TEST_TOKEN_SECONDS"])
    token = "plugin-" + secrets.token_urlsafe(24)
    with open(os.environ["K8S_ASSETS_TEST_ISSUED"], "a") as issued:
        issued.write(json.dumps({"token": token, "issued": now, "expires": expires}) + "\n")
    status = {"token": token}
    if os.environ.get("K8S_ASSETS_TEST_OMIT_EXPIRY") != "1":
        # RFC 3339 in whole seconds, rounded down: the client's view of the expiry is never later.
        status["expirationTimestamp"] = datetime.datetime.fromtimestamp(math.floor(expires),
                                                                        datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
    print(json.dumps({"apiVersion": info.get("apiVersion", "client.authentication.k8s.io/v1"),
                      "kind": "ExecCredential", "status": status}))


if __name__ == "__main__":
    main()
