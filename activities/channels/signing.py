"""Signing schemes, each written once and shared by the adapters that use it.

- Sorted concatenation `k1v1k2v2...` (keys sorted by code point, `sign` excluded):
  * `md5_sign`: uppercase hex MD5 of `secret + concat + secret`. Taobao/TOP `sign_method=md5`
    (per the reference), and the same scheme is used by JD (`jingdong.*` open API, md5) and
    Pinduoduo (`pdd.*` open API).
  * `hmac_md5_sign`: TOP `sign_method=hmac`: uppercase hex HMAC-MD5 keyed with the secret over the
    concatenation. As in TOP's published SDKs the concatenation is *not* wrapped in the secret here
    (the key already is the secret).
  * `hmac_sha256_sign`: TOP `sign_method=hmac-sha256`, the same with SHA-256.
  * `douyin_sign`: Douyin shop open API. UNVERIFIED reading of its documentation: concatenate
    `app_key, method, param_json, timestamp, v` (which is their sorted order) as `k1v1...`, wrap in
    the secret, HMAC-SHA256 keyed with the secret, lowercase hex (`sign_method=hmac-sha256`).
    `param_json` must be the compact JSON with sorted keys the request actually sends.
- Webhooks: `verify_shopify_webhook` (base64 HMAC-SHA256 of the raw body, header
  `X-Shopify-Hmac-SHA256`) and `verify_hex_hmac` (own store: hex HMAC-SHA256 of the raw body, an
  optional `sha256=` prefix tolerated). Both compare in constant time and never raise on junk headers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping

DOUYIN_SIGNED_KEYS = ("app_key", "method", "param_json", "timestamp", "v")


def sorted_concat(params: Mapping[str, str], *, only: Iterable[str] | None = None) -> str:
    """`k1v1k2v2...` over the parameters sorted by key, `sign` always excluded."""
    keys = sorted(k for k in params if k != "sign" and (only is None or k in set(only)))
    return "".join(f"{k}{params[k]}" for k in keys)


def md5_sign(params: Mapping[str, str], secret: str) -> str:
    wrapped = f"{secret}{sorted_concat(params)}{secret}"
    return hashlib.md5(wrapped.encode("utf-8")).hexdigest().upper()


def hmac_md5_sign(params: Mapping[str, str], secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), sorted_concat(params).encode("utf-8"), hashlib.md5).hexdigest().upper()


def hmac_sha256_sign(params: Mapping[str, str], secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), sorted_concat(params).encode("utf-8"), hashlib.sha256).hexdigest().upper()


def douyin_sign(params: Mapping[str, str], secret: str) -> str:
    """UNVERIFIED: see the module docstring."""
    wrapped = f"{secret}{sorted_concat(params, only=DOUYIN_SIGNED_KEYS)}{secret}"
    return hmac_sha256_hex(wrapped.encode("utf-8"), secret)


def hmac_sha256_hex(message: bytes, secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify_shopify_webhook(raw_body: bytes, header: str | None, secret: str) -> bool:
    """`X-Shopify-Hmac-SHA256`: base64 of HMAC-SHA256(raw body, app secret)."""
    if not header or not secret:
        return False
    try:
        given = base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest()
    return hmac.compare_digest(expected, given)


def verify_hex_hmac(raw_body: bytes, header: str | None, secret: str) -> bool:
    """Own store: hex HMAC-SHA256 of the raw body (case-insensitive; `sha256=` prefix accepted)."""
    if not header or not secret:
        return False
    given = header.strip()
    if given.lower().startswith("sha256="):
        given = given[len("sha256="):]
    expected = hmac_sha256_hex(raw_body, secret)
    return hmac.compare_digest(expected.encode("ascii"), given.lower().encode("utf-8", "replace"))
