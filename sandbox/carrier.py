"""Carrier API: waybills with privacy labels, tracking subscriptions, tracking queries.

Control (tests, the dev stack): `POST /_sandbox/carrier/waybills/{waybill_no}/exception {"reason"}` holds a
subscribed parcel with an EXCEPTION tracking event now (409 once it is signed for or already held).
"""

import secrets
from typing import Any

import structlog
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from sandbox.errors import ServiceError
from sandbox.faults import FaultInjectedRoute
from sandbox.privacy import is_masked_phone, is_valid_phone, mask_name, mask_phone
from sandbox.records import RecordStore
from sandbox.tracking import TrackingService, Waybill

log = structlog.get_logger(__name__)

CARRIERS = frozenset({"SF", "ZTO", "YTO", "JD", "EMS"})
# District is optional: Shopify and foreign addresses have none, and the city routes the parcel.
ADDRESS_FIELDS = ("name", "province", "city", "address")


class Sender(BaseModel):
    warehouse: str = Field(min_length=1)
    province: str = ""
    city: str = ""


class Receiver(BaseModel):
    # Everything optional here: gaps are reported as INVALID_ADDRESS / INVALID_PHONE, not 400 shape errors.
    model_config = ConfigDict(coerce_numbers_to_str=True)

    name: str | None = None
    phone: str | None = None
    province: str | None = None
    city: str | None = None
    district: str | None = None
    address: str | None = None


class Parcel(BaseModel):
    sku: str = Field(min_length=1)
    quantity: int = Field(ge=1)


class PlatformOrder(BaseModel):
    """A privacy (electronic) waybill: the platform keeps the receiver encrypted and the carrier
    resolves it through the platform's order, so the request may carry masked values only."""

    channel: str = Field(min_length=1)
    external_id: str = Field(min_length=1)


class WaybillRequest(BaseModel):
    carrier: str
    request_id: str = Field(min_length=1)
    sender: Sender
    receiver: Receiver | None = None
    parcels: list[Parcel] = Field(min_length=1)
    platform_order: PlatformOrder | None = None


class SubscriptionRequest(BaseModel):
    waybill_no: str = Field(min_length=1)
    callback_url: str

    @field_validator("callback_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value


class ExceptionRequest(BaseModel):
    reason: str = Field(default="ADDRESS_UNREACHABLE", min_length=1, max_length=100)


class CarrierState:
    def __init__(self, tracking: TrackingService) -> None:
        self.waybills: dict[str, Waybill] = {}
        self.tracking = tracking

    def new_waybill_no(self, carrier: str) -> str:
        # Unpredictable, not seeded: a restarted sandbox must not reissue numbers
        # (event ids are derived from them and OrderHub dedupes on those).
        while True:
            waybill_no = f"{carrier}{secrets.randbelow(9 * 10**11) + 10**11}"
            if waybill_no not in self.waybills:
                return waybill_no

    async def reset(self) -> None:
        await self.tracking.reset()
        self.waybills.clear()


router = APIRouter(prefix="/carrier", tags=["carrier"], route_class=FaultInjectedRoute)


def _state(request: Request) -> tuple[CarrierState, RecordStore]:
    return request.app.state.carrier, request.app.state.records


def _check_waybill_request(body: WaybillRequest) -> Receiver:
    if body.carrier not in CARRIERS:
        raise ServiceError(400, "UNKNOWN_CARRIER", f"carrier must be one of {sorted(CARRIERS)}")
    receiver = body.receiver
    if receiver is None:
        raise ServiceError(400, "INVALID_ADDRESS", "receiver is missing")
    missing = [f for f in ADDRESS_FIELDS if not (getattr(receiver, f) or "").strip()]
    if missing:
        # Field names only: receiver values never leave the request.
        raise ServiceError(400, "INVALID_ADDRESS", f"receiver fields missing or empty: {', '.join(missing)}")
    phone = (receiver.phone or "").strip()
    if not (is_valid_phone(phone) or (body.platform_order is not None and is_masked_phone(phone))):
        raise ServiceError(
            400, "INVALID_PHONE", "receiver.phone must be 11 digits or a landline like 021-12345678"
        )
    return receiver


@router.post("/waybills", name="carrier.create_waybill")
async def create_waybill(body: WaybillRequest, request: Request) -> dict[str, Any]:
    carrier, records = _state(request)
    previous = records.replay("waybill", body.request_id)
    if previous is not None:
        log.info(
            "carrier.waybill_replayed", request_id=body.request_id, waybill_no=previous.result["waybill_no"]
        )
        return previous.result
    try:
        receiver = _check_waybill_request(body)
    except ServiceError as exc:
        log.info("carrier.waybill_rejected", request_id=body.request_id, error_code=exc.error_code)
        raise

    waybill_no = carrier.new_waybill_no(body.carrier)
    phone = (receiver.phone or "").strip()
    carrier.waybills[waybill_no] = Waybill(
        waybill_no=waybill_no,
        carrier=body.carrier,
        request_id=body.request_id,
        origin_site=f"{body.sender.city}{body.sender.warehouse}揽收点",
        destination_site=f"{receiver.city}{receiver.district}营业点",
        courier=f"{body.carrier}-C{waybill_no[-4:]}",
    )
    result = {
        "request_id": body.request_id,
        "waybill_no": waybill_no,
        "carrier": body.carrier,
        "label": {
            "receiver_name": mask_name(receiver.name or ""),
            "receiver_phone": mask_phone(phone),
            "receiver_address": " ".join(
                (getattr(receiver, f) or "").strip() for f in ("province", "city", "district", "address")
            ),
        },
    }
    records.add("waybill", body.request_id, body.model_dump(mode="json", exclude_unset=True), result)
    log.info(
        "carrier.waybill_created", request_id=body.request_id, waybill_no=waybill_no, carrier=body.carrier
    )
    return result


@router.post("/subscriptions", name="carrier.subscribe")
async def subscribe(body: SubscriptionRequest, request: Request) -> dict[str, Any]:
    carrier, records = _state(request)
    waybill = carrier.waybills.get(body.waybill_no)
    if waybill is None:
        raise ServiceError(404, "WAYBILL_NOT_FOUND", f"unknown waybill {body.waybill_no}")
    previous = records.replay("subscription", body.waybill_no)
    if previous is not None:
        return previous.result
    carrier.tracking.subscribe(waybill, body.callback_url)
    result = {"waybill_no": body.waybill_no, "subscribed": True}
    records.add("subscription", body.waybill_no, body.model_dump(mode="json"), result)
    log.info("carrier.subscribed", waybill_no=body.waybill_no)
    return result


@router.get("/tracking/{waybill_no}", name="carrier.tracking")
async def tracking(waybill_no: str, request: Request) -> dict[str, Any]:
    carrier, _ = _state(request)
    waybill = carrier.waybills.get(waybill_no)
    if waybill is None:
        raise ServiceError(404, "WAYBILL_NOT_FOUND", f"unknown waybill {waybill_no}")
    events = carrier.tracking.events(waybill_no)
    return {"waybill_no": waybill_no, "carrier": waybill.carrier, "events": events}


control_router = APIRouter(prefix="/_sandbox/carrier", tags=["sandbox control"])


@control_router.post("/waybills/{waybill_no}/exception")
async def raise_exception(waybill_no: str, body: ExceptionRequest, request: Request) -> dict[str, Any]:
    carrier, _ = _state(request)
    if waybill_no not in carrier.waybills:
        raise ServiceError(404, "WAYBILL_NOT_FOUND", f"unknown waybill {waybill_no}")
    try:
        event = carrier.tracking.exception(waybill_no, body.reason)
    except KeyError:
        raise ServiceError(409, "NOT_SUBSCRIBED", f"waybill {waybill_no} has no tracking subscription") from None
    except ValueError as err:
        raise ServiceError(409, "ILLEGAL_EXCEPTION", str(err)) from None
    log.info("carrier.exception_raised", waybill_no=waybill_no, reason=body.reason)
    return event
