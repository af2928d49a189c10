"""Province -> region, for "nearest warehouse first" routing.

The seven customary regions of mainland China; provinces are matched by their Chinese name with
or without the 省/市/自治区 suffix, or by pinyin.
"""

from __future__ import annotations

_REGIONS: dict[str, list[tuple[str, str]]] = {
    "east": [
        ("上海", "shanghai"), ("江苏", "jiangsu"), ("浙江", "zhejiang"), ("安徽", "anhui"),
        ("福建", "fujian"), ("江西", "jiangxi"), ("山东", "shandong"), ("台湾", "taiwan"),
    ],
    "south": [
        ("广东", "guangdong"), ("广西", "guangxi"), ("海南", "hainan"), ("香港", "hong kong"),
        ("澳门", "macau"),
    ],
    "north": [
        ("北京", "beijing"), ("天津", "tianjin"), ("河北", "hebei"), ("山西", "shanxi"),
        ("内蒙古", "inner mongolia"),
    ],
    "central": [("河南", "henan"), ("湖北", "hubei"), ("湖南", "hunan")],
    "southwest": [
        ("重庆", "chongqing"), ("四川", "sichuan"), ("贵州", "guizhou"), ("云南", "yunnan"),
        ("西藏", "tibet"),
    ],
    "northwest": [
        ("陕西", "shaanxi"), ("甘肃", "gansu"), ("青海", "qinghai"), ("宁夏", "ningxia"),
        ("新疆", "xinjiang"),
    ],
    "northeast": [("辽宁", "liaoning"), ("吉林", "jilin"), ("黑龙江", "heilongjiang")],
}

_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "省", "市")

_BY_NAME: dict[str, str] = {}
for _region, _provinces in _REGIONS.items():
    for _zh, _py in _provinces:
        _BY_NAME[_zh] = _region
        _BY_NAME[_py] = _region

REGIONS = tuple(_REGIONS)


def region_of(province: str) -> str | None:
    """The region a province belongs to, or None when it is not recognised."""
    name = province.strip().lower()
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    name = name.removesuffix(" province").removesuffix(" shi").strip()
    return _BY_NAME.get(name)
