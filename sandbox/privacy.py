"""Receiver masking for privacy waybills (labels print 张* / 138****1234)."""

import re

MOBILE = re.compile(r"\d{11}")
# Landline with area code, optional extension: 021-12345678, 0571-8888666-12.
LANDLINE = re.compile(r"0\d{2,3}-\d{7,8}(?:-\d{1,6})?")


MASKED_MOBILE = re.compile(r"\d{3}\*{4}\d{4}")


def is_masked_phone(phone: str) -> bool:
    """What Pinduoduo and Douyin hand out instead of the number: 138****1234."""
    return bool(MASKED_MOBILE.fullmatch(phone))


def is_valid_phone(phone: str) -> bool:
    return bool(MOBILE.fullmatch(phone) or LANDLINE.fullmatch(phone))


def mask_name(name: str) -> str:
    name = name.strip()
    return name[0] + "*" * (len(name) - 1) if len(name) > 1 else "*"


def mask_phone(phone: str) -> str:
    if is_masked_phone(phone):
        return phone
    if MOBILE.fullmatch(phone):
        return f"{phone[:3]}****{phone[-4:]}"
    area = phone.split("-", 1)[0]
    return f"{area}-****{phone[-4:]}"
