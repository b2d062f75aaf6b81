"""Tests for flowc.regions: names, caller regions, compressed prefix tables."""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flowc import regions
from flowc.phones import CallerNumber, normalize_caller
from flowc.regions import PrefixTable, Region, build_prefix_table, lookup_region, region_of

ROOT = Path(__file__).resolve().parent.parent


def R(region_id: str) -> Region:
    return regions.get_region(region_id)


# ---------------------------------------------------------------------------
# Data


def test_nothing_loaded_at_import_and_loading_is_fast() -> None:
    code = (
        "import time, flowc.regions as r, flowc.phones as p\n"
        "assert r._data.cache_info().currsize == 0, 'loaded at import'\n"
        "t = time.perf_counter(); r._data(); print(time.perf_counter() - t)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout
    assert float(out) < 0.25  # ~20 ms here; generous for slow CI machines


def test_data_shape() -> None:
    regs = regions.all_regions()
    provinces = [r for r in regs if r.level == "province"]
    cities = [r for r in regs if r.level == "city"]
    assert len(provinces) == 31
    assert len(cities) > 330
    assert len({r.id for r in regs}) == len(regs)
    assert all(re.fullmatch(r"[a-z]+(\.[a-z]+)?", r.id) for r in regs)
    ids = {p.id for p in provinces}
    assert all(c.province_id in ids and c.id.startswith(c.province_id + ".") for c in cities)
    assert all(p.province_id == p.id for p in provinces)
    assert regions.data_sources()["phone"]["data_version"] == "2312"


def test_municipalities_are_provinces_with_one_city() -> None:
    for pid in ("beijing", "shanghai", "tianjin", "chongqing"):
        assert lookup_region(R(pid).name_zh) == R(pid)
        cities = [r for r in regions.all_regions() if r.level == "city" and r.province_id == pid]
        assert [c.id for c in cities] == [f"{pid}.{pid}"]


def test_area_codes() -> None:
    assert regions.area_code_of("075512345678") == "0755"
    assert regions.area_code_of("01088886666") == "010"
    assert regions.area_code_of("02612345678") is None
    assert regions.area_code_of("13800000001") is None
    info = regions.area_code_info("028")
    assert info.province_id == "sichuan"
    assert set(info.city_ids) == {"sichuan.chengdu", "sichuan.meishan", "sichuan.ziyang"}
    assert regions.area_code_info("0479").city_ids == ("neimenggu.xilingol",)  # phone.dat: 00479


# ---------------------------------------------------------------------------
# Names


@pytest.mark.parametrize(
    "name, region_id",
    [
        ("广东", "guangdong"), ("广东省", "guangdong"), ("guangdong", "guangdong"),
        ("GuangDong", "guangdong"), ("Guangdong Province", "guangdong"),
        ("深圳", "guangdong.shenzhen"), ("深圳市", "guangdong.shenzhen"),
        ("Shenzhen", "guangdong.shenzhen"), ("shenzhen city", "guangdong.shenzhen"),
        ("内蒙古", "neimenggu"), ("内蒙古自治区", "neimenggu"), ("nei menggu", "neimenggu"),
        ("neimenggu", "neimenggu"), ("Inner Mongolia", "neimenggu"),
        ("广西", "guangxi"), ("广西壮族自治区", "guangxi"), ("新疆维吾尔自治区", "xinjiang"),
        ("宁夏回族自治区", "ningxia"), ("西藏", "xizang"), ("Tibet", "xizang"),
        ("北京", "beijing"), ("北京市", "beijing"), ("Beijing", "beijing"),
        ("shaanxi", "shaanxi"), ("shanxi", "shanxi"), ("陕西", "shaanxi"), ("山西", "shanxi"),
        ("西安", "shaanxi.xian"), ("Xi'an", "shaanxi.xian"), ("xian", "shaanxi.xian"),
        ("湘西", "hunan.xiangxi"), ("湘西州", "hunan.xiangxi"),
        ("湘西土家族苗族自治州", "hunan.xiangxi"), ("吉首", "hunan.xiangxi"),
        ("巴州", "xinjiang.bayingolin"), ("库尔勒市", "xinjiang.bayingolin"),
        ("锡林郭勒盟", "neimenggu.xilingol"), ("大兴安岭地区", "heilongjiang.dahingganling"),
        ("襄樊", "hubei.xiangyang"), ("莱芜", "shandong.jinan"),
        ("Lüliang", "shanxi.luliang"), ("lvliang", "shanxi.luliang"), ("luliang", "shanxi.luliang"),
        ("Urumqi", "xinjiang.urumqi"), ("wulumuqi", "xinjiang.urumqi"), ("乌鲁木齐", "xinjiang.urumqi"),
        ("Harbin", "heilongjiang.harbin"), ("haerbin", "heilongjiang.harbin"),
        ("江苏泰州", "jiangsu.taizhou"), ("江苏省泰州市", "jiangsu.taizhou"),
        ("Taizhou, Jiangsu", "jiangsu.taizhou"), ("zhejiang taizhou", "zhejiang.taizhou"),
        ("zhejiang.taizhou", "zhejiang.taizhou"), ("ZheJiang.TaiZhou", "zhejiang.taizhou"),
        ("  广州 ", "guangdong.guangzhou"), ("ｇｕａｎｇｚｈｏｕ", "guangdong.guangzhou"),
    ],
)
def test_lookup_region(name: str, region_id: str) -> None:
    assert lookup_region(name) == R(region_id)


@pytest.mark.parametrize(
    "name, region_id",
    [
        ("吉林", "jilin"), ("jilin", "jilin"), ("Jilin", "jilin"), ("吉林省", "jilin"),
        ("吉林市", "jilin.jilin"), ("jilin city", "jilin.jilin"), ("Jilin City", "jilin.jilin"),
        ("jilin.jilin", "jilin.jilin"), ("吉林吉林", "jilin.jilin"),
        ("海南", "hainan"), ("hainan", "hainan"), ("海南州", "qinghai.hainan"),
        ("海南藏族自治州", "qinghai.hainan"), ("青海海南", "qinghai.hainan"),
        ("北京市", "beijing"), ("beijing.beijing", "beijing.beijing"),
    ],
)
def test_province_wins_over_city_of_same_name(name: str, region_id: str) -> None:
    assert lookup_region(name) == R(region_id)


@pytest.mark.parametrize("name", ["taizhou", "Fuzhou", "suzhou", "yulin", "Yichun"])
def test_ambiguous_pinyin(name: str) -> None:
    cands = regions.region_candidates(name)
    assert len(cands) == 2 and len({c.province_id for c in cands}) == 2
    assert lookup_region(name) is None
    assert regions.suggest_regions(name)[:2] == [c.id for c in cands]


@pytest.mark.parametrize("name", ["", "   ", "火星", "atlantis", "深圳市南山区", "广东深圳北京"])
def test_unknown_names(name: str) -> None:
    assert lookup_region(name) is None


def test_every_region_is_reachable_by_name_or_id() -> None:
    for region in regions.all_regions():
        assert lookup_region(region.id) == region
        for name in (region.name_zh, region.name_pinyin):
            found = lookup_region(name)
            # a name either resolves to the region, or is taken by a province or ambiguous
            assert found == region or (found is not None and found.level == "province") \
                or len(regions.region_candidates(name)) > 1, name


@pytest.mark.parametrize(
    "typo, expected",
    [("深川", "深圳"), ("广洲", "广州"), ("广东生", "广东"), ("guangdon", "Guangdong"),
     ("shenzen", "Shenzhen"), ("Guanzhou", "Guangzhou"), ("neimengu", "Nei Menggu"),
     ("chongquing", "Chongqing")],
)
def test_suggestions(typo: str, expected: str) -> None:
    assert lookup_region(typo) is None
    assert expected in regions.suggest_regions(typo)


def test_suggestions_resolve_and_respect_limit() -> None:
    for typo in ["深川", "广洲", "jilin", "taizhou", "shenzen", "hainan", "吉林", "xx"]:
        got = regions.suggest_regions(typo, limit=5)
        assert len(got) <= 5 and len(set(got)) == len(got)
        assert all(lookup_region(s) is not None for s in got), got
    assert regions.suggest_regions("深川", limit=1) == ["深圳"]
    assert regions.suggest_regions("深川", limit=0) == []
    assert "jilin.jilin" in regions.suggest_regions("jilin")  # the city, shadowed by the province


# ---------------------------------------------------------------------------
# region_of


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("13800000001", ("beijing", "beijing.beijing")),
        ("+8613912345678", ("jiangsu", "jiangsu.changzhou")),
        ("075512345678", ("guangdong", "guangdong.shenzhen")),
        ("+86 755".replace(" ", "") + "12345678", ("guangdong", "guangdong.shenzhen")),
        ("01088886666", ("beijing", "beijing.beijing")),
        ("04792345678", ("neimenggu", "neimenggu.xilingol")),
        ("02812345678", ("sichuan", None)),  # 028: Chengdu, Meishan and Ziyang share it
        ("089812345678", ("hainan", None)),
        ("14000000000", None),  # mobile prefix not in the data
        ("anonymous", None), ("+441234567890", None), ("12345", None),
    ],
)
def test_region_of(raw: str, expected) -> None:
    assert region_of(normalize_caller(raw)) == expected


# ---------------------------------------------------------------------------
# Prefix tables


@pytest.fixture(scope="module")
def reference() -> list[tuple[str, tuple[str, str | None] | None]]:
    """region_of() for every 7-digit mobile prefix and every area code."""
    make = tuple.__new__  # CallerNumber(...) without the NamedTuple's Python-level __new__
    with no_gc():
        mobiles = [str(n) for n in range(1300000, 2000000)]
        codes = regions.area_codes()
        callers = itertools.chain(
            (make(CallerNumber, (None, p + "0000", "mobile")) for p in mobiles),
            (CallerNumber(None, c + "2345678", "landline") for c in codes))
        return list(zip(mobiles + codes, map(region_of, callers)))


@contextlib.contextmanager
def no_gc():
    """The exhaustive checks allocate ~10^6 small objects: collection cycles
    would double their time without freeing anything."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def expected_label(targets: dict[str, list[Region]], where) -> str | None:
    if where is None:
        return None
    for label, regs in targets.items():  # first label listed wins
        if any(r.id in where for r in regs):
            return label
    return None


def check_table(table: PrefixTable, targets, reference, step: int = 1,
                negative_step: int = 1, regex_labels: set[str] | None = None) -> None:
    """lookup() and the regexes agree with region_of() on every `step`-th prefix.

    Each label's regex (those in `regex_labels`, default all: compiling 30 big
    regexes takes a while) must match every such prefix of that label; that it
    matches no other prefix is checked on every `negative_step`-th one of those.
    """
    with no_gc():
        _check_table(table, targets, reference[::step] + reference[-400:], negative_step,
                     regex_labels)


def _check_table(table: PrefixTable, targets, reference, negative_step: int,
                 regex_labels: set[str] | None) -> None:
    memo = {where: expected_label(targets, where) for where in set(w for _, w in reference)}
    prefixes = [p for p, _ in reference]
    want = [memo[w] for _, w in reference]
    got = list(map(table.lookup, prefixes))
    if got != want:
        bad = next(i for i, (g, w) in enumerate(zip(got, want)) if g != w)
        pytest.fail(f"lookup({prefixes[bad]!r}) = {got[bad]!r}, region_of says {want[bad]!r}")
    by_label: dict[str | None, list[str]] = {}
    for prefix, label in zip(prefixes, want):
        by_label.setdefault(label, []).append(prefix)
    patterns = table.as_regex_alternatives()
    assert set(patterns) == {label for label in by_label if label is not None}
    rx = {label: re.compile(p) for label, p in patterns.items()
          if regex_labels is None or label in regex_labels}
    for label, members in by_label.items():
        for other, pattern in rx.items():
            if other == label:
                assert all(map(pattern.match, members)), label
            else:
                assert not any(map(pattern.match, members[::negative_step])), (label, other)
    entries = table.entries
    assert list(entries) == sorted(entries) and len({p for p, _ in entries}) == len(entries)
    assert set(table.labels) == set(targets)


@pytest.fixture(scope="module")
def south_targets() -> dict[str, list[Region]]:
    return {"sz": [R("guangdong.shenzhen")], "south": [R("guangdong"), R("hainan")]}


@pytest.fixture(scope="module")
def south_table(south_targets) -> PrefixTable:
    return build_prefix_table(south_targets)


def test_table_city_and_provinces(reference, south_targets, south_table) -> None:
    check_table(south_table, south_targets, reference, step=11)  # every area code too
    assert south_table.lookup("075512345678") == "sz"
    assert south_table.lookup("02012345678") == "south"
    assert south_table.lookup("089812345678") == "south"


def test_table_guangdong_size() -> None:
    table = build_prefix_table({"gd": [R("guangdong")]})
    assert len(table) < 5000  # 4,500 with 2023-12 data (56,489 prefixes + 21 codes)
    assert {("020", "gd"), ("075", "gd")} <= set(table.entries)  # 075X all Guangdong


@pytest.fixture(scope="module")
def country_targets() -> dict[str, list[Region]]:
    # cities before their province, a shared area code (028), municipalities, and
    # a later label repeating a region (must lose: first label wins)
    return {
        "shenzhen": [R("guangdong.shenzhen")],
        "chengdu": [R("sichuan.chengdu")],
        "north": [R("beijing"), R("tianjin"), R("hebei")],
        **{p.id: [p] for p in regions.all_regions()
           if p.level == "province" and p.id not in ("beijing", "tianjin", "hebei")},
        "late": [R("guangdong.guangzhou"), R("beijing.beijing")],
    }


@pytest.fixture(scope="module")
def country_table(country_targets) -> PrefixTable:
    return build_prefix_table(country_targets)


def test_table_whole_country_with_overlaps(reference, country_targets, country_table) -> None:
    check_table(country_table, country_targets, reference, negative_step=29,
                regex_labels={"shenzhen", "chengdu", "north", "guangdong", "sichuan", "hainan"})
    assert country_table.lookup("02812345678") == "sichuan"  # 028 is not only Chengdu's
    assert country_table.lookup("13800000001") == "north"
    assert "late" not in {label for _, label in country_table.entries}


def test_table_without_regions_is_empty() -> None:
    table = build_prefix_table({"nothing": []})
    assert table.entries == () and table.lookup("13800000001") is None
    assert table.as_regex_alternatives() == {}


def test_table_has_no_redundant_entries(country_table) -> None:
    entries = dict(country_table.entries)
    for prefix, label in entries.items():
        parent = next((entries[prefix[:i]] for i in range(len(prefix) - 1, -1, -1)
                       if prefix[:i] in entries), None)
        assert parent != label, prefix


def test_table_is_deterministic_and_order_sensitive(south_targets, south_table) -> None:
    again = build_prefix_table(dict(south_targets))
    assert again == south_table
    assert again.as_regex_alternatives() == south_table.as_regex_alternatives()
    assert list(south_table.as_regex_alternatives()) == ["sz", "south"]
    swapped = build_prefix_table({"south": south_targets["south"], "sz": south_targets["sz"]})
    assert swapped.lookup("075512345678") == "south"  # province listed first swallows the city
    assert "sz" not in swapped.as_regex_alternatives()


@pytest.mark.skipif(shutil.which("grep") is None, reason="needs grep -E")
def test_posix_regexes_work_in_grep(reference, south_table) -> None:
    """The "posix" flavour is real POSIX ERE (Asterisk REGEX() uses regcomp)."""
    sample = [p + "0000" for p, _ in reference[::53]] + [c + "2345678" for c in regions.area_codes()]
    for label, pattern in south_table.as_regex_alternatives("posix").items():
        proc = subprocess.run(["grep", "-E", "-e", pattern], input="\n".join(sample) + "\n",
                              capture_output=True, text=True)
        assert proc.returncode in (0, 1), proc.stderr
        assert set(proc.stdout.split()) == {s for s in sample if south_table.lookup(s) == label}


def test_regex_flavors(south_table) -> None:
    table = south_table
    pcre = table.as_regex_alternatives()
    posix = table.as_regex_alternatives("posix")
    assert all(p.startswith("^") for p in pcre.values())
    assert all("(?:" not in p and "\\d" not in p for p in posix.values())
    for label in pcre:
        assert posix[label] == pcre[label].replace("(?:", "(")
