"""Signing: known answers computed here by hand with hashlib/hmac, and webhook verification."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from activities.channels import ADAPTERS, signing

SECRET = "helloworld"
TOP_PARAMS = {
    "method": "taobao.trades.sold.increment.get",
    "app_key": "12345678",
    "session": "test-session",
    "timestamp": "2024-05-01 12:00:00",
    "format": "json",
    "v": "2.0",
    "sign_method": "md5",
    "start_modified": "2024-05-01 00:00:00",
    "sign": "ANY-OLD-SIGN-IS-EXCLUDED",
}
# The same parameters concatenated by hand, keys in sorted order, `sign` left out.
TOP_CONCAT = (
    "app_key12345678" "formatjson" "methodtaobao.trades.sold.increment.get" "sessiontest-session"
    "sign_methodmd5" "start_modified2024-05-01 00:00:00" "timestamp2024-05-01 12:00:00" "v2.0"
)


def test_sorted_concat_matches_the_hand_written_string():
    assert signing.sorted_concat(TOP_PARAMS) == TOP_CONCAT


def test_top_md5_known_answer():
    expected = hashlib.md5(f"{SECRET}{TOP_CONCAT}{SECRET}".encode()).hexdigest().upper()
    assert signing.md5_sign(TOP_PARAMS, SECRET) == expected
    assert ADAPTERS["taobao"].sign(TOP_PARAMS, SECRET) == expected
    assert len(expected) == 32 and expected == expected.upper()


def test_md5_sign_is_stable_under_dict_order_and_ignores_sign_but_not_values():
    reordered = dict(reversed(list(TOP_PARAMS.items())))
    assert signing.md5_sign(reordered, SECRET) == signing.md5_sign(TOP_PARAMS, SECRET)
    assert signing.md5_sign({**TOP_PARAMS, "sign": "X"}, SECRET) == signing.md5_sign(TOP_PARAMS, SECRET)
    assert signing.md5_sign({**TOP_PARAMS, "session": "other"}, SECRET) != signing.md5_sign(TOP_PARAMS, SECRET)
    assert signing.md5_sign(TOP_PARAMS, "other-secret") != signing.md5_sign(TOP_PARAMS, SECRET)


def test_md5_sign_of_non_ascii_values_uses_utf8():
    params = {"buyer_message": "周末送货", "a": "1"}
    expected = hashlib.md5(f"{SECRET}a1buyer_message周末送货{SECRET}".encode()).hexdigest().upper()
    assert signing.md5_sign(params, SECRET) == expected


def test_top_hmac_variant_known_answer():
    params = {**TOP_PARAMS, "sign_method": "hmac"}
    concat = TOP_CONCAT.replace("sign_methodmd5", "sign_methodhmac")
    expected = hmac.new(SECRET.encode(), concat.encode(), hashlib.md5).hexdigest().upper()
    assert signing.hmac_md5_sign(params, SECRET) == expected
    assert ADAPTERS["taobao"].sign(params, SECRET) == expected
    assert expected != ADAPTERS["taobao"].sign(TOP_PARAMS, SECRET)


def test_top_hmac_sha256_variant_and_unknown_method():
    params = {**TOP_PARAMS, "sign_method": "hmac-sha256"}
    concat = TOP_CONCAT.replace("sign_methodmd5", "sign_methodhmac-sha256")
    expected = hmac.new(SECRET.encode(), concat.encode(), hashlib.sha256).hexdigest().upper()
    assert ADAPTERS["taobao"].sign(params, SECRET) == expected
    with pytest.raises(ValueError, match="sign_method"):
        ADAPTERS["taobao"].sign({**TOP_PARAMS, "sign_method": "sha1"}, SECRET)


@pytest.mark.parametrize("channel", ["jd", "pinduoduo"])
def test_jd_and_pinduoduo_use_the_sorted_md5_scheme(channel):
    params = {"type": "pdd.order.number.list.increment.get", "client_id": "abc", "timestamp": "1714550400",
              "data_type": "JSON"}
    concat = "client_idabcdata_typeJSONtimestamp1714550400typepdd.order.number.list.increment.get"
    expected = hashlib.md5(f"{SECRET}{concat}{SECRET}".encode()).hexdigest().upper()
    assert ADAPTERS[channel].sign(params, SECRET) == expected


def test_douyin_sign_known_answer_over_its_five_keys_only():
    params = {"app_key": "7001", "method": "order.searchList", "param_json": '{"page":"0","size":"100"}',
              "timestamp": "2024-05-04 10:00:00", "v": "2", "access_token": "not-signed", "sign_method": "hmac-sha256"}
    wrapped = (f"{SECRET}app_key7001methodorder.searchListparam_json{{\"page\":\"0\",\"size\":\"100\"}}"
               f"timestamp2024-05-04 10:00:00v2{SECRET}")
    expected = hmac.new(SECRET.encode(), wrapped.encode(), hashlib.sha256).hexdigest()
    assert ADAPTERS["douyin"].sign(params, SECRET) == expected


@pytest.mark.parametrize("channel", ["shopify", "own_store"])
def test_platforms_that_do_not_sign_requests_say_so(channel):
    with pytest.raises(NotImplementedError, match="does not sign"):
        ADAPTERS[channel].sign({"a": "1"}, SECRET)


BODY = b'{"id":5678901234567,"financial_status":"paid"}'
SHOPIFY_SECRET = "shpss_test_secret"


def shopify_header(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_shopify_webhook_accepts_the_genuine_signature():
    assert signing.verify_shopify_webhook(BODY, shopify_header(BODY, SHOPIFY_SECRET), SHOPIFY_SECRET) is True


@pytest.mark.parametrize(
    "header",
    [
        shopify_header(BODY.replace(b"paid", b"pending"), SHOPIFY_SECRET),  # tampered body
        shopify_header(BODY, "wrong-secret"),
        hmac.new(SHOPIFY_SECRET.encode(), BODY, hashlib.sha256).hexdigest(),  # hex, not base64
        "", "not base64 at all!", "签名",
    ],
    ids=["tampered", "wrong-secret", "hex-not-base64", "empty", "junk", "non-ascii"],
)
def test_shopify_webhook_rejects(header):
    assert signing.verify_shopify_webhook(BODY, header, SHOPIFY_SECRET) is False


def test_shopify_webhook_rejects_a_tampered_body_with_the_old_header():
    header = shopify_header(BODY, SHOPIFY_SECRET)
    assert signing.verify_shopify_webhook(BODY + b" ", header, SHOPIFY_SECRET) is False
    assert signing.verify_shopify_webhook(BODY, header, "") is False


def test_own_store_hex_hmac_verify():
    header = hmac.new(b"store-secret", BODY, hashlib.sha256).hexdigest()
    assert signing.verify_hex_hmac(BODY, header, "store-secret") is True
    assert signing.verify_hex_hmac(BODY, header.upper(), "store-secret") is True
    assert signing.verify_hex_hmac(BODY, f"sha256={header}", "store-secret") is True
    assert signing.verify_hex_hmac(BODY + b"x", header, "store-secret") is False
    assert signing.verify_hex_hmac(BODY, header, "other-secret") is False
    assert signing.verify_hex_hmac(BODY, header[:-1], "store-secret") is False
    assert signing.verify_hex_hmac(BODY, "", "store-secret") is False
    assert signing.verify_hex_hmac(BODY, "签名", "store-secret") is False
    assert signing.hmac_sha256_hex(BODY, "store-secret") == header
