"""The sandbox's own signatures pinned to known answers worked out here by hand from the platform reference
(the string to sign is written out literally, the digest taken with hashlib/hmac), then over HTTP: a call
signed by hand is accepted, and a wrong, mis-cased or tampered signature or sign method is refused in the
platform's own error shape."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import handsigned
import pytest

from sandbox.platforms import signing

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
# Reference: keys sorted, each key followed by its value, `sign` left out.
TOP_STRING = (
    "app_key12345678" "formatjson" "methodtaobao.trades.sold.increment.get" "sessiontest-session"
    "sign_methodmd5" "start_modified2024-05-01 00:00:00" "timestamp2024-05-01 12:00:00" "v2.0"
)


def test_top_md5_is_uppercase_md5_of_the_secret_wrapped_sorted_pairs():
    expected = hashlib.md5(f"{SECRET}{TOP_STRING}{SECRET}".encode()).hexdigest().upper()
    assert expected == "18FA83E7BA126BBAEA52BB76CE55E5D7"  # worked out once, by hand, from the string above
    assert signing.top_sign(TOP_PARAMS, SECRET) == expected
    assert signing.wrapped_md5(TOP_PARAMS, SECRET) == expected


def test_top_hmac_is_uppercase_hmac_md5_of_the_unwrapped_sorted_pairs():
    params = {**TOP_PARAMS, "sign_method": "hmac"}
    string = TOP_STRING.replace("sign_methodmd5", "sign_methodhmac")
    expected = hmac.new(SECRET.encode(), string.encode(), hashlib.md5).hexdigest().upper()
    assert signing.top_sign(params, SECRET) == expected
    assert expected != hashlib.md5(f"{SECRET}{string}{SECRET}".encode()).hexdigest().upper()


@pytest.mark.parametrize("method", ["hmac-sha256", "sha1", "MD5", ""])
def test_top_knows_only_the_reference_sign_methods(method):
    with pytest.raises(ValueError, match="sign_method"):
        signing.top_sign({**TOP_PARAMS, "sign_method": method}, SECRET)
    params = dict(TOP_PARAMS)
    del params["sign_method"]
    with pytest.raises(ValueError, match="sign_method"):
        signing.top_sign(params, SECRET)


def test_order_of_the_parameters_does_not_matter_but_every_value_does():
    reordered = dict(reversed(list(TOP_PARAMS.items())))
    assert signing.top_sign(reordered, SECRET) == signing.top_sign(TOP_PARAMS, SECRET)
    assert signing.top_sign({**TOP_PARAMS, "session": "other"}, SECRET) != signing.top_sign(TOP_PARAMS, SECRET)
    assert signing.top_sign(TOP_PARAMS, "other-secret") != signing.top_sign(TOP_PARAMS, SECRET)


def test_non_ascii_values_are_signed_as_utf8_and_empty_values_keep_their_key():
    params = {"buyer_message": "周末送货", "a": "1", "z": ""}
    expected = hashlib.md5(f"{SECRET}a1buyer_message周末送货z{SECRET}".encode()).hexdigest().upper()
    assert signing.wrapped_md5(params, SECRET) == expected


def test_jd_signs_every_parameter_including_the_business_json():
    params = {"method": "jingdong.pop.order.search", "app_key": "abc", "access_token": "tok",
              "timestamp": "2024-05-01 12:00:00", "v": "2.0", "360buy_param_json": '{"page":1}', "sign": "x"}
    string = ('360buy_param_json{"page":1}' "access_tokentok" "app_keyabc" "methodjingdong.pop.order.search"
              "timestamp2024-05-01 12:00:00" "v2.0")
    assert signing.wrapped_md5(params, SECRET) == hashlib.md5(f"{SECRET}{string}{SECRET}".encode()).hexdigest().upper()


def test_pinduoduo_signs_every_parameter():
    params = {"type": "pdd.order.number.list.increment.get", "client_id": "abc", "timestamp": "1714550400",
              "data_type": "JSON", "page": "1"}
    string = "client_idabcdata_typeJSONpage1timestamp1714550400typepdd.order.number.list.increment.get"
    assert signing.wrapped_md5(params, SECRET) == hashlib.md5(f"{SECRET}{string}{SECRET}".encode()).hexdigest().upper()


def test_douyin_signs_its_five_keys_only_with_hmac_sha256_lowercase():
    params = {"app_key": "7001", "method": "order.searchList", "param_json": '{"page":0,"size":100}',
              "timestamp": "2024-05-04 10:00:00", "v": "2", "access_token": "not-signed",
              "sign_method": "hmac-sha256", "sign": "x"}
    string = 'app_key7001methodorder.searchListparam_json{"page":0,"size":100}timestamp2024-05-04 10:00:00v2'
    expected = hmac.new(SECRET.encode(), f"{SECRET}{string}{SECRET}".encode(), hashlib.sha256).hexdigest()
    assert signing.douyin_sign(params, SECRET) == expected
    assert signing.douyin_sign({**params, "access_token": "other"}, SECRET) == expected


def test_webhook_signatures():
    body = '{"id":5678901234567,"note":"周末送货"}'.encode()
    digest = hmac.new(b"shpss_test", body, hashlib.sha256)
    assert signing.shopify_webhook_hmac(body, "shpss_test") == base64.b64encode(digest.digest()).decode()
    assert signing.own_store_webhook_hmac(body, "shpss_test") == digest.hexdigest()


def test_signatures_compare_exactly():
    assert signing.same_signature("ABC123", "ABC123")
    assert not signing.same_signature("abc123", "ABC123")
    assert not signing.same_signature(None, "ABC123")
    assert not signing.same_signature("", "ABC123")
    assert not signing.same_signature("签名", "ABC123")


# --- over HTTP: the sandbox platforms take hand-signed calls ------------------------------------------------

ROUTERS = ["taobao", "jd", "pinduoduo", "douyin"]
SIGN_REFUSED = {"taobao": ("error_response", "code", 25), "jd": ("error_response", "code", "14"),
                "pinduoduo": ("error_response", "error_code", 10016), "douyin": (None, "sub_code", "isv.signature-invalid")}
PARAM_REFUSED = {"taobao": ("error_response", "code", 41), "jd": ("error_response", "code", "66"),
                 "pinduoduo": ("error_response", "error_code", 10000),
                 "douyin": (None, "sub_code", "isv.parameter-invalid")}
OK = {"taobao": "trades_sold_increment_get_response", "jd": "jingdong_pop_order_search_responce",
      "pinduoduo": "order_sn_increment_get_response", "douyin": "data"}


def refusal(answer: dict, kind: dict, channel: str):
    root, key, _ = kind[channel]
    body = answer.get(root) if root else answer
    assert isinstance(body, dict), answer
    return body.get(key)


def accepted(answer: dict, channel: str) -> bool:
    if channel == "douyin":
        return answer.get("code") == 10000 and isinstance(answer.get("data"), dict)
    return OK[channel] in answer and "error_response" not in answer


def window() -> tuple[datetime, datetime]:
    end = datetime.now(UTC)
    return end - timedelta(minutes=10), end


@pytest.mark.parametrize("channel", ROUTERS)
async def test_a_hand_signed_call_is_accepted(sandbox, channel):
    answer = await handsigned.pull(channel, *window()).send(sandbox.client)
    assert accepted(answer, channel), answer


@pytest.mark.parametrize("channel", ROUTERS)
async def test_a_wrong_signature_is_refused(sandbox, channel):
    call = handsigned.pull(channel, *window())
    call.params["sign"] = call.params["sign"][:-1] + ("0" if call.params["sign"][-1] != "0" else "1")
    answer = await call.send(sandbox.client)
    assert refusal(answer, SIGN_REFUSED, channel) == SIGN_REFUSED[channel][2]


@pytest.mark.parametrize("channel", ROUTERS)
async def test_the_signature_must_have_its_documented_case(sandbox, channel):
    call = handsigned.pull(channel, *window())
    sign = call.params["sign"]
    call.params["sign"] = sign.upper() if channel == "douyin" else sign.lower()
    assert call.params["sign"] != sign
    answer = await call.send(sandbox.client)
    assert refusal(answer, SIGN_REFUSED, channel) == SIGN_REFUSED[channel][2]


@pytest.mark.parametrize("channel", ROUTERS)
async def test_a_signed_value_changed_afterwards_is_refused(sandbox, channel):
    call = handsigned.pull(channel, *window())
    if channel == "douyin":
        call.body = call.body.replace('"update_time_start":', '"update_time_start":1')  # another start
    else:
        name = {"taobao": "session", "jd": "360buy_param_json", "pinduoduo": "end_updated_at"}[channel]
        call.params[name] += "1" if channel != "jd" else " "
    answer = await call.send(sandbox.client)
    assert refusal(answer, SIGN_REFUSED, channel) == SIGN_REFUSED[channel][2]


@pytest.mark.parametrize("channel", ["taobao", "jd", "pinduoduo"])
async def test_a_parameter_added_after_signing_is_refused(sandbox, channel):
    call = handsigned.pull(channel, *window())
    call.params["page_size" if channel != "taobao" else "page_no"] = "1"
    answer = await call.send(sandbox.client)
    assert refusal(answer, SIGN_REFUSED, channel) == SIGN_REFUSED[channel][2]


async def test_douyin_does_not_sign_the_access_token(sandbox):
    await sandbox.client.put("/_sandbox/platforms/douyin/shops/second", json={
        "app_key": "sandbox-douyin", "app_secret": "sandbox-secret-douyin", "access_token": "second-token"})
    call = handsigned.pull("douyin", *window())
    call.params["access_token"] = "second-token"  # not covered by the signature: still valid
    assert accepted(await call.send(sandbox.client), "douyin")


async def test_taobao_hmac_sign_method_over_http(sandbox):
    start, end = window()
    call = handsigned.taobao("taobao.trades.sold.increment.get", {
        "start_modified": handsigned.beijing(start), "end_modified": handsigned.beijing(end),
        "fields": handsigned.TAOBAO_FIELDS}, sign_method="hmac")
    assert accepted(await call.send(sandbox.client), "taobao")
    call.params["sign_method"] = "md5"  # the same signature read as md5 does not hold
    answer = await call.send(sandbox.client)
    assert refusal(answer, SIGN_REFUSED, "taobao") == 25


@pytest.mark.parametrize("name, value", [("sign_method", "hmac-sha256"), ("sign_method", "sha1"), ("format", "xml"),
                                         ("v", "1.0")])
async def test_taobao_refuses_system_parameters_outside_the_reference(sandbox, name, value):
    start, end = window()
    call = handsigned.taobao("taobao.trades.sold.increment.get", {
        "start_modified": handsigned.beijing(start), "end_modified": handsigned.beijing(end),
        "fields": handsigned.TAOBAO_FIELDS}, **{name: value})
    answer = await call.send(sandbox.client)
    assert refusal(answer, PARAM_REFUSED, "taobao") == 41
    assert name in answer["error_response"]["sub_msg"]


@pytest.mark.parametrize("name", ["timestamp", "format", "v", "sign_method"])
async def test_taobao_refuses_a_call_missing_a_system_parameter(sandbox, name):
    call = handsigned.pull("taobao", *window())
    del call.params[name]
    answer = await call.send(sandbox.client)
    assert refusal(answer, PARAM_REFUSED, "taobao") == 41
    assert name in answer["error_response"]["sub_msg"]


@pytest.mark.parametrize("name, value", [("sign_method", "md5"), ("v", "1")])
async def test_douyin_refuses_another_sign_method_or_version(sandbox, name, value):
    call = handsigned.pull("douyin", *window())
    call.params[name] = value
    answer = await call.send(sandbox.client)
    assert refusal(answer, PARAM_REFUSED, "douyin") == "isv.parameter-invalid"


async def test_jd_refuses_a_sign_method_other_than_md5(sandbox):
    answer = await handsigned.pull("jd", *window()).send(sandbox.client)
    assert accepted(answer, "jd")
    call = handsigned.jd("jingdong.pop.order.search", {}, sign_method="hmac")
    assert refusal(await call.send(sandbox.client), PARAM_REFUSED, "jd") == "66"
