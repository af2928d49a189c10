"""Router calls to the sandbox marketplaces, built and signed by hand (a plain module: conftest names clash
across test directories).

Parameter names and signing recipes are spelled out here from the platform reference
(`../shared/reference/platform-apis.md`; for JD, Pinduoduo and Douyin, whose signing it does not describe,
from their published open platform docs) with hashlib/hmac directly. Neither the sandbox's nor the hub's
signing code is used, so a mistake in either fails the tests that use these calls.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

BEIJING = timezone(timedelta(hours=8))
PATHS = {"taobao": "/taobao/router/rest", "jd": "/jd/routerjson", "pinduoduo": "/pinduoduo/api/router"}


def app_key(channel: str) -> str:  # the sandbox's default shop, as `make dev` seeds it
    return f"sandbox-{channel}"


def secret(channel: str) -> str:
    return f"sandbox-secret-{channel}"


def token(channel: str) -> str:
    return f"sandbox-token-{channel}"


def concat(params: dict[str, str], keys: tuple[str, ...] | None = None) -> str:
    """`k1v1k2v2...`, keys sorted, `sign` excluded."""
    return "".join(f"{key}{params[key]}" for key in sorted(keys or params) if key != "sign" and key in params)


def md5_upper(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


def beijing(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Signed:
    channel: str
    path: str
    params: dict[str, str]  # form fields (Douyin: the query)
    body: str | None = None  # Douyin: param_json

    async def send(self, client: httpx.AsyncClient) -> dict[str, Any]:
        if self.body is not None:
            response = await client.post(self.path, params=self.params, content=self.body.encode("utf-8"),
                                         headers={"Content-Type": "application/json"})
        else:
            response = await client.post(self.path, data=self.params)
        assert response.status_code == 200, response.text
        return response.json()


def taobao(method: str, business: dict[str, Any], *, sign_method: str = "md5", **system: str) -> Signed:
    """TOP: form POST of method, app_key, session, timestamp, format=json, v=2.0, sign_method, sign and the
    business parameters flat. md5: MD5(secret + concat + secret) uppercase; hmac: HMAC-MD5(secret, concat)
    uppercase."""
    params = {"method": method, "app_key": app_key("taobao"), "session": token("taobao"),
              "timestamp": beijing(datetime.now(BEIJING)), "format": "json", "v": "2.0", "sign_method": sign_method,
              **{k: str(v) for k, v in business.items()}, **system}
    key = secret("taobao")
    if sign_method == "hmac":
        params["sign"] = hmac.new(key.encode(), concat(params).encode(), hashlib.md5).hexdigest().upper()
    else:
        params["sign"] = md5_upper(key + concat(params) + key)
    return Signed("taobao", PATHS["taobao"], params)


def jd(method: str, business: dict[str, Any], **system: str) -> Signed:
    """JD: business parameters as the JSON text `360buy_param_json`; MD5 over every parameter, TOP style."""
    params = {"method": method, "app_key": app_key("jd"), "access_token": token("jd"),
              "timestamp": beijing(datetime.now(BEIJING)), "v": "2.0", "format": "json", "sign_method": "md5",
              "360buy_param_json": json.dumps(business, ensure_ascii=False, separators=(",", ":")), **system}
    params["sign"] = md5_upper(secret("jd") + concat(params) + secret("jd"))
    return Signed("jd", PATHS["jd"], params)


def pinduoduo(api: str, business: dict[str, Any], **system: str) -> Signed:
    """Pinduoduo: the API name in `type`, `client_id`, epoch-seconds `timestamp`, business parameters flat;
    MD5 over every parameter, TOP style."""
    params = {"type": api, "client_id": app_key("pinduoduo"), "access_token": token("pinduoduo"),
              "timestamp": str(int(time.time())), "data_type": "JSON", "version": "V1",
              **{k: str(v) for k, v in business.items()}, **system}
    params["sign"] = md5_upper(secret("pinduoduo") + concat(params) + secret("pinduoduo"))
    return Signed("pinduoduo", PATHS["pinduoduo"], params)


def douyin(method: str, business: dict[str, Any], **system: str) -> Signed:
    """Douyin: system parameters in the query, `param_json` (compact, keys sorted) as the body; the signature
    covers app_key, method, param_json, timestamp, v only: HMAC-SHA256(secret, secret + concat + secret),
    lowercase hex."""
    param_json = json.dumps(business, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    params = {"app_key": app_key("douyin"), "method": method, "access_token": token("douyin"),
              "timestamp": beijing(datetime.now(BEIJING)), "v": "2", "sign_method": "hmac-sha256", **system}
    signed = {**params, "param_json": param_json}
    text = secret("douyin") + concat(signed, ("app_key", "method", "param_json", "timestamp", "v")) + secret("douyin")
    params["sign"] = hmac.new(secret("douyin").encode(), text.encode(), hashlib.sha256).hexdigest()
    return Signed("douyin", f"/douyin/{method.replace('.', '/')}", params, body=param_json)


def pull(channel: str, start: datetime, end: datetime, **business: Any) -> Signed:
    """The reference's incremental order search of each router platform over start..end."""
    if channel == "taobao":
        return taobao("taobao.trades.sold.increment.get", {
            "start_modified": beijing(start), "end_modified": beijing(end), "fields": TAOBAO_FIELDS, **business})
    if channel == "jd":
        return jd("jingdong.pop.order.search", {
            "start_date": beijing(start), "end_date": beijing(end), "optional_fields": JD_FIELDS, **business})
    if channel == "pinduoduo":
        return pinduoduo("pdd.order.number.list.increment.get", {
            "start_updated_at": int(start.timestamp()), "end_updated_at": int(end.timestamp()), **business})
    return douyin("order.searchList", {
        "update_time_start": int(start.timestamp()), "update_time_end": int(end.timestamp()), **business})


# The reference's field lists, as the pull asks for them.
TAOBAO_FIELDS = (
    "tid,status,created,modified,pay_time,consign_time,payment,total_fee,post_fee,discount_fee,buyer_nick,"
    "buyer_message,seller_flag,receiver_name,receiver_state,receiver_city,receiver_district,receiver_address,"
    "receiver_zip,receiver_mobile,receiver_phone,orders"
)
JD_FIELDS = (
    "orderId,venderId,orderState,orderTotalPrice,orderPayment,freightPrice,sellerDiscount,paymentConfirmTime,"
    "orderStartTime,modified,waybill,logisticsId,orderRemark,venderRemark,consigneeInfo,itemInfoList"
)
