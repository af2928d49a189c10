"""Signatures as the platforms compute them, on their side of the wire.

The sandbox's own code, written from the shared reference (`platform-apis.md`) and never shared with
the hub's adapters: the channel tests (tests/channels) send the adapters' requests here, so a
signing mistake on either side fails them instead of being mirrored on both.

- Taobao / TOP (reference): `sign_method=md5`: uppercase hex MD5 of
  `secret + k1v1k2v2... + secret`, keys sorted, `sign` excluded. `sign_method=hmac` (the reference names
  it but not its recipe; TOP's published SDKs): uppercase hex HMAC-MD5 keyed with the secret over the
  same concatenation, not wrapped in the secret.
- JD and Pinduoduo: the reference is silent; their published open platform docs use the TOP md5
  recipe over every parameter sent (UNVERIFIED here).
- Douyin: the reference is silent. UNVERIFIED reading of its published SDK: only `app_key, method,
  param_json, timestamp, v` are concatenated (in that, their sorted, order), wrapped in the secret,
  HMAC-SHA256 keyed with the secret, lowercase hex (`sign_method=hmac-sha256`).
- Webhooks: Shopify's `X-Shopify-Hmac-SHA256` is base64 HMAC-SHA256 of the raw body keyed with the app
  secret (reference); the own store's is the same HMAC in hex (our own contract, reference: "HMAC-SHA256
  of the body in a header").

"Keys sorted" means by code point, values as sent (an empty value still contributes its key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping

TOP_SIGN_METHODS = frozenset({"md5", "hmac"})
DOUYIN_SIGNED = ("app_key", "method", "param_json", "timestamp", "v")


def concatenated(params: Mapping[str, str], keys: Iterable[str] | None = None) -> str:
    """`k1v1k2v2...` over `keys` (default: every parameter), sorted, `sign` never included."""
    chosen = params.keys() if keys is None else [k for k in keys if k in params]
    return "".join(key + params[key] for key in sorted(chosen) if key != "sign")


def wrapped_md5(params: Mapping[str, str], secret: str) -> str:
    """TOP `md5`, JD, Pinduoduo: MD5(secret + concatenation + secret), uppercase hex."""
    text = secret + concatenated(params) + secret
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


def top_sign(params: Mapping[str, str], secret: str) -> str:
    """TOP, by the request's `sign_method` (checked to be md5 or hmac before this is called)."""
    method = params.get("sign_method")
    if method == "md5":
        return wrapped_md5(params, secret)
    if method == "hmac":
        return hmac.new(secret.encode("utf-8"), concatenated(params).encode("utf-8"), hashlib.md5).hexdigest().upper()
    raise ValueError(f"TOP sign_method must be one of {sorted(TOP_SIGN_METHODS)}, got {method!r}")


def douyin_sign(params: Mapping[str, str], secret: str) -> str:
    text = secret + concatenated(params, DOUYIN_SIGNED) + secret
    return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def shopify_webhook_hmac(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def own_store_webhook_hmac(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def same_signature(given: str | None, expected: str) -> bool:
    """Exact (case included: each platform documents one case) and in constant time."""
    return given is not None and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
