"""Build flowc's region data files from the `phone` and `phonenumbers` packages.

Run at development time, not at install or run time:

    python tools/build_region_data.py            # writes flowc/data/
    python tools/build_region_data.py --check    # exit 1 if flowc/data/ is stale

Inputs
  * phone (PyPI `phone`, file phone/phone.dat, version field "2312" = 2023-12):
    7-digit mobile prefixes -> province, city short name, area code.  This is the
    authority for mobile prefixes, for the set of area codes and for which city
    uses which area code.
  * phonenumbers (PyPI, Google libphonenumber port): the geocoding data for +86
    mobile prefixes gives a prefecture-level city list with Chinese ("广东省深圳市")
    and English/pinyin ("Shenzhen, Guangdong") names; is_valid_number() gives the
    subscriber lengths each area code allows.

Outputs (flowc/data/)
  * regions.json         provinces, cities (ids, names, aliases), area codes
  * mobile_prefixes.bin.gz   uint16 little-endian array, one slot per 7-digit
    prefix 1300000..1999999: index into regions.json "cities", 0xFFFF = unknown.

The curated tables below (provinces, aliases, romanisation fixes) are the only
hand-written facts; everything else comes from the two packages.
"""

from __future__ import annotations

import argparse
import array
import gzip
import json
import re
import struct
import sys
import unicodedata
from collections import defaultdict
from pathlib import Path

import phonenumbers
from phonenumbers.geodata import GEOCODE_DATA

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "flowc" / "data"
MOBILE_FIRST = 1300000  # first 7-digit prefix stored in the array
MOBILE_COUNT = 700000  # 1300000..1999999
NO_CITY = 0xFFFF

# (id, short Chinese name, official full name, pinyin, extra names) in GB/T 2260 order.
PROVINCES: list[tuple[str, str, str, str, tuple[str, ...]]] = [
    ("beijing", "北京", "北京市", "Beijing", ()),
    ("tianjin", "天津", "天津市", "Tianjin", ()),
    ("hebei", "河北", "河北省", "Hebei", ()),
    ("shanxi", "山西", "山西省", "Shanxi", ()),
    ("neimenggu", "内蒙古", "内蒙古自治区", "Nei Menggu", ("Inner Mongolia", "Nei Mongol")),
    ("liaoning", "辽宁", "辽宁省", "Liaoning", ()),
    ("jilin", "吉林", "吉林省", "Jilin", ()),
    ("heilongjiang", "黑龙江", "黑龙江省", "Heilongjiang", ()),
    ("shanghai", "上海", "上海市", "Shanghai", ()),
    ("jiangsu", "江苏", "江苏省", "Jiangsu", ()),
    ("zhejiang", "浙江", "浙江省", "Zhejiang", ()),
    ("anhui", "安徽", "安徽省", "Anhui", ()),
    ("fujian", "福建", "福建省", "Fujian", ()),
    ("jiangxi", "江西", "江西省", "Jiangxi", ()),
    ("shandong", "山东", "山东省", "Shandong", ()),
    ("henan", "河南", "河南省", "Henan", ()),
    ("hubei", "湖北", "湖北省", "Hubei", ()),
    ("hunan", "湖南", "湖南省", "Hunan", ()),
    ("guangdong", "广东", "广东省", "Guangdong", ()),
    ("guangxi", "广西", "广西壮族自治区", "Guangxi", ("广西自治区",)),
    ("hainan", "海南", "海南省", "Hainan", ()),
    ("chongqing", "重庆", "重庆市", "Chongqing", ()),
    ("sichuan", "四川", "四川省", "Sichuan", ()),
    ("guizhou", "贵州", "贵州省", "Guizhou", ()),
    ("yunnan", "云南", "云南省", "Yunnan", ()),
    ("xizang", "西藏", "西藏自治区", "Xizang", ("Tibet",)),
    ("shaanxi", "陕西", "陕西省", "Shaanxi", ()),
    ("gansu", "甘肃", "甘肃省", "Gansu", ()),
    ("qinghai", "青海", "青海省", "Qinghai", ()),
    ("ningxia", "宁夏", "宁夏回族自治区", "Ningxia", ("宁夏自治区",)),
    ("xinjiang", "新疆", "新疆维吾尔自治区", "Xinjiang", ("新疆自治区",)),
]
MUNICIPALITIES = {"北京", "天津", "上海", "重庆"}

# Cities phone.dat uses that the phonenumbers city list lacks: (province, short, pinyin).
EXTRA_CITIES = [
    ("河南", "济源", "Jiyuan"),  # province-administered county-level city
    ("湖北", "天门", "Tianmen"),  # province-administered county-level city
    ("海南", "三亚", "Sanya"),
]
# Renames of outdated phonenumbers names: old short -> (new short, pinyin).
RENAMES = {("湖北", "襄樊"): ("襄阳", "Xiangyang")}

# phone.dat (or historical) names -> the prefecture-level city they belong to.
# Each alias is also accepted by lookup_region().
ALIASES: dict[tuple[str, str], str] = {
    ("内蒙古", "临河"): "巴彦淖尔",
    ("内蒙古", "乌兰浩特"): "兴安",
    ("内蒙古", "海拉尔"): "呼伦贝尔",
    ("内蒙古", "集宁"): "乌兰察布",
    ("吉林", "珲春"): "延边",
    ("吉林", "延吉"): "延边",
    ("四川", "西昌"): "凉山",
    ("新疆", "克州"): "克孜勒苏",
    ("新疆", "博乐"): "博尔塔拉",
    ("新疆", "博州"): "博尔塔拉",
    ("新疆", "奎屯"): "伊犁",
    ("新疆", "巴州"): "巴音郭楞",
    ("新疆", "库尔勒"): "巴音郭楞",
    ("河北", "雄安"): "保定",  # Xiong'an New Area: counties formerly of Baoding
    ("河南", "潢川"): "信阳",
    ("湖北", "江汉"): "潜江",  # Jianghan oilfield, in Qianjiang
    ("湖北", "襄樊"): "襄阳",
    ("湖南", "吉首"): "湘西",
    ("青海", "格尔木"): "海西",
    ("青海", "海晏"): "海北",
    ("重庆", "万州"): "重庆",
    ("重庆", "涪陵"): "重庆",
    ("重庆", "黔江"): "重庆",
    ("山东", "莱芜"): "济南",  # merged into Jinan in 2019
    ("安徽", "巢湖"): "合肥",  # prefecture dissolved in 2011
}

# phonenumbers' English names that are truncated or not the usual romanisation.
PINYIN_FIXES = {
    "Urumchi": "Urumqi",
    "Xilin": "Xilingol",
    "Hulun": "Hulunbuir",
    "Puer": "Pu'er",
}
# Extra (Hanyu pinyin) spellings for cities whose English name is not pinyin.
PINYIN_ALIASES = {
    "乌鲁木齐": ("Wulumuqi",),
    "哈尔滨": ("Haerbin",),
    "呼和浩特": ("Huhehaote",),
    "齐齐哈尔": ("Qiqihaer",),
    "拉萨": ("Lasa",),
    "日喀则": ("Rikaze", "Shigatse"),
    "昌都": ("Changdu",),
    "林芝": ("Linzhi",),
    "那曲": ("Naqu",),
    "阿里": ("Ali",),
    "迪庆": ("Diqing",),
    "果洛": ("Guoluo",),
    "甘孜": ("Ganzi",),
    "伊犁": ("Yili",),
    "克孜勒苏": ("Kezilesu",),
    "博尔塔拉": ("Boertala",),
    "巴音郭楞": ("Bayinguoleng",),
    "和田": ("Hetian",),
    "阿勒泰": ("Aletai",),
    "吐鲁番": ("Tulufan",),
    "克拉玛依": ("Kelamayi",),
    "阿克苏": ("Akesu",),
    "兴安": ("Xing'an",),
    "锡林郭勒": ("Xilinguole",),
    "呼伦贝尔": ("Hulunbeier",),
    "鄂尔多斯": ("Eerduosi",),
    "阿拉善": ("Alashan",),
    "巴彦淖尔": ("Bayannaoer",),
    "乌兰察布": ("Wulanchabu",),
    "大兴安岭": ("Daxinganling",),
    "襄阳": ("Xiangfan",),
}

_ETHNIC = "(?:土家|苗|朝鲜|彝|藏|羌|白|傣|景颇|傈僳|壮|哈尼|回|布依|侗|蒙古|哈萨克|柯尔克孜)族?"
_PROV_SUFFIX = "^(?:省|市|壮族自治区|回族自治区|维吾尔自治区|自治区)"


def read_phone_dat() -> tuple[str, list[tuple[int, str, str, str]]]:
    """Return (version, [(prefix7, province, city, area_code)]) from phone.dat."""
    import phone  # the package ships phone.dat next to its module

    path = Path(phone.__file__).with_name("phone.dat")
    buf = path.read_bytes()
    version, first = struct.unpack_from("<4si", buf, 0)
    rows = []
    for off in range(first, len(buf) - 8, 9):
        prefix, rec_off, _carrier = struct.unpack_from("<iiB", buf, off)
        rec = buf[rec_off:buf.index(b"\x00", rec_off)].decode()
        province, city, _zip, area = rec.split("|")
        rows.append((prefix, province, city, clean_area_code(area)))
    return version.decode(), rows


def clean_area_code(area: str) -> str:
    """phone.dat has a few malformed codes ("00479" for 锡林郭勒's 0479)."""
    code = "0" + area.lstrip("0")
    if not re.fullmatch(r"0(?:10|2[0-9]|[3-9][0-9]{2})", code):
        raise SystemExit(f"malformed area code {area!r} in phone.dat")
    return code


def split_zh(full: str) -> tuple[str, str, str] | None:
    """'广东省深圳市' -> ('广东', '深圳', '深圳市'); municipalities give (X, X, X市)."""
    for _pid, short, *_ in PROVINCES:
        if not full.startswith(short):
            continue
        if short in MUNICIPALITIES:
            return short, short, short + "市"
        rest = re.sub(_PROV_SUFFIX, "", full[len(short):])
        return short, city_short(rest), rest
    return None


def city_short(full: str) -> str:
    """'湘西土家族苗族自治州' -> '湘西', '大兴安岭地区' -> '大兴安岭', '兴安盟' -> '兴安'."""
    s = re.sub(f"(?:{_ETHNIC})+自治州$", "", full)
    return re.sub("(?:市|地区|盟|林区)$", "", s)


def fix_pinyin(en: str) -> str:
    """'XiAn' -> "Xi'an"; phonenumbers drops apostrophes and some name endings."""
    en = PINYIN_FIXES.get(en, en)
    return re.sub(r"([a-z])([A-Z])", lambda m: m[1] + "'" + m[2].lower(), en)


def phonenumbers_cities() -> dict[tuple[str, str], tuple[str, str]]:
    """(province short, city short) -> (full Chinese name, pinyin) from +86 mobile geodata."""
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for key, names in sorted(GEOCODE_DATA.items()):
        if not key.startswith("861") or "zh" not in names or "en" not in names:
            continue
        split = split_zh(names["zh"])
        if split is None:
            raise SystemExit(f"unknown province in {names['zh']!r}")
        prov, short, full = split
        en_city = names["en"].split(",")[0].strip()
        out.setdefault((prov, short), (full, fix_pinyin(en_city)))
    return out


def slug(pinyin: str) -> str:
    """'Lüliang' -> 'luliang', "Xi'an" -> 'xian': the ascii part of region ids."""
    plain = unicodedata.normalize("NFKD", pinyin).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", plain.lower())


def build() -> tuple[dict, bytes]:
    version, rows = read_phone_dat()
    pn = phonenumbers_cities()
    for (prov, old), (new, py) in RENAMES.items():
        full, _ = pn.pop((prov, old))
        pn[(prov, new)] = (full.replace(old, new), py)
    for prov, short, py in EXTRA_CITIES:
        pn[(prov, short)] = (short + "市", py)
    for key in [k for k in pn if k in ALIASES]:  # merged cities are aliases only
        del pn[key]

    prov_ids = {short: pid for pid, short, *_ in PROVINCES}

    def canonical(prov: str, name: str) -> tuple[str, str]:
        name = ALIASES.get((prov, name), name)
        name = city_short(name)
        if (prov, name) not in pn:
            raise SystemExit(f"phone.dat city {prov}/{name} has no canonical city")
        return prov, name

    used = sorted({canonical(p, c) for _x, p, c, _a in rows},
                  key=lambda k: (list(prov_ids).index(k[0]), slug(pn[k][1]), k[1]))
    city_index = {key: i for i, key in enumerate(used)}
    aliases: dict[tuple[str, str], list[str]] = defaultdict(list)
    for (prov, alias), target in sorted(ALIASES.items()):
        aliases[(prov, target)].append(alias)
    for _x, prov, city, _a in rows:  # phone.dat spellings such as 锡林郭勒盟
        key = canonical(prov, city)
        if city != key[1] and city not in aliases[key]:
            aliases[key].append(city)

    cities = []
    for prov, short in used:
        full, py = pn[(prov, short)]
        cid = f"{prov_ids[prov]}.{slug(py)}"
        zh_names = sorted({full} | set(aliases[(prov, short)]) - {short})
        cities.append({"id": cid, "province": prov_ids[prov], "zh": short, "pinyin": py,
                       "zh_aliases": zh_names, "pinyin_aliases": list(PINYIN_ALIASES.get(short, ()))})
    ids = [c["id"] for c in cities]
    assert len(set(ids)) == len(ids), "duplicate city ids"

    mobile = array.array("H", [NO_CITY] * MOBILE_COUNT)
    area_cities: dict[str, set[int]] = defaultdict(set)
    for prefix, prov, city, area in rows:
        idx = city_index[canonical(prov, city)]
        mobile[prefix - MOBILE_FIRST] = idx
        area_cities[area].add(idx)
    for code, idxs in area_cities.items():
        provs = {cities[i]["province"] for i in idxs}
        assert len(provs) == 1, (code, provs)

    area_codes = {}
    for code in sorted(area_cities):
        idxs = sorted(area_cities[code])
        area_codes[code] = {"province": cities[idxs[0]]["province"],
                            "cities": [cities[i]["id"] for i in idxs],
                            "lengths": subscriber_lengths(code)}

    if sys.byteorder != "little":
        mobile.byteswap()
    doc = {
        "format": 1,
        "sources": {
            "phone": {"package_version": _dist_version("phone"), "data_version": version,
                      "records": len(rows)},
            "phonenumbers": {"package_version": phonenumbers.__version__},
        },
        "mobile": {"first_prefix": MOBILE_FIRST, "count": MOBILE_COUNT, "no_city": NO_CITY,
                   "file": "mobile_prefixes.bin.gz"},
        "provinces": [{"id": pid, "zh": short, "full": full, "pinyin": py, "aliases": list(extra)}
                      for pid, short, full, py, extra in PROVINCES],
        "cities": cities,
        "area_codes": area_codes,
    }
    return doc, gzip.compress(mobile.tobytes(), compresslevel=9, mtime=0)


def subscriber_lengths(code: str) -> list[int]:
    """Subscriber lengths (7/8) libphonenumber accepts after this area code."""
    ok = []
    for n in (7, 8):
        samples = (code + str(d) + "0" * (n - 1) for d in range(2, 10))
        if any(phonenumbers.is_valid_number(phonenumbers.parse(s, "CN")) for s in samples):
            ok.append(n)
    return ok


def _dist_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    args = ap.parse_args()
    doc, blob = build()
    text = json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=False) + "\n"
    targets = {DATA_DIR / "regions.json": text.encode(), DATA_DIR / "mobile_prefixes.bin.gz": blob}
    if args.check:
        stale = [p.name for p, b in targets.items() if not p.exists() or p.read_bytes() != b]
        print("stale: " + ", ".join(stale) if stale else "up to date")
        return 1 if stale else 0
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for path, data in targets.items():
        path.write_bytes(data)
        print(f"wrote {path.relative_to(ROOT)} ({len(data):,} bytes)")
    print(f"{len(doc['provinces'])} provinces, {len(doc['cities'])} cities, "
          f"{len(doc['area_codes'])} area codes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
