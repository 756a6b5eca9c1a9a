"""What a run used and cost (pipeline.domain.cost) and the price table from configuration."""

import re

import pytest

from pipeline.cli.cost import drop_prefix
from pipeline.config import load_settings
from pipeline.domain.cost import (
    GpuUse,
    PriceTable,
    gpu_class,
    measure,
    parse_gpu_prices,
    price,
    total,
)
from pipeline.domain.errors import ConfigError
from pipeline.domain.rendering import Rendering, SegmentRender

H100 = "cuda:0 NVIDIA H100 80GB HBM3 : cudaMallocAsync"
L40S = "cuda:1 NVIDIA L40S : native"


def render(index: int, attempt: int, device: str, gpu_s: float) -> SegmentRender:
    rendering = Rendering(
        graph_sha256="0" * 64, comfyui_version="0.3.0", device=device, worker="w", gpu_s=gpu_s
    )
    return SegmentRender(
        index=index, attempt=attempt, seed=1, key=f"s{index}.{attempt}", rendering=rendering
    )


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        (H100, "NVIDIA H100 80GB HBM3"),
        (L40S, "NVIDIA L40S"),
        ("cpu", "cpu"),
        ("cuda", "cuda"),
        ("  NVIDIA A10G ", "NVIDIA A10G"),
        ("", "unknown"),
    ],
)
def test_the_gpu_class_is_the_device_name_without_index_and_allocator(
    device: str, expected: str
) -> None:
    assert gpu_class(device) == expected


def test_usage_counts_every_attempt_by_stage_and_class_and_cpu_seconds_from_timings() -> None:
    renders = [render(0, 0, H100, 40.0), render(0, 1, H100, 41.5), render(1, 0, L40S, 30.25)]
    usage = measure(
        renders,
        {"take_drop": 1.5, "generate_segment": 120.0, "stitch": 3.25, "separate_vocals": 9.0},
        gpu_stages={"generate_segment", "separate_vocals"},
        other_gpu=[GpuUse(stage="separation", device="cuda", gpu_s=7.5)],
        bytes_stored=5_000,
        bytes_moved=2_000,
    )
    assert usage.gpu_s == {"segments": 111.75, "separation": 7.5}
    assert usage.gpu_s_by_class == {
        "NVIDIA H100 80GB HBM3": 81.5,
        "NVIDIA L40S": 30.25,
        "cuda": 7.5,
    }
    assert usage.cpu_s == 4.75
    assert (usage.bytes_stored, usage.bytes_moved) == (5_000, 2_000)


def test_a_render_from_before_provenance_adds_no_gpu_seconds() -> None:
    old = SegmentRender(index=0, attempt=0, seed=1, key="k")
    usage = measure([old, render(1, 0, H100, 10.0)], {}, gpu_stages=())
    assert usage.gpu_s == {"segments": 10.0}


def test_prices_turn_usage_into_amounts_by_the_longest_matching_class() -> None:
    prices = PriceTable(
        gpu_hour={"H100": 2.0, "NVIDIA H100 80GB": 3.6, "*": 1.0, "cpu": 0.0},
        cpu_hour=0.36,
        gb_month=0.015,
        gb_moved=0.09,
        currency="EUR",
    )
    usage = measure(
        [render(0, 0, H100, 1800.0), render(1, 0, L40S, 3600.0), render(2, 0, "cpu", 99.0)],
        {"stitch": 100.0},
        gpu_stages=(),
        bytes_stored=2 * 10**9,
        bytes_moved=10**9,
    )
    cost = price(usage, prices)
    assert cost.amounts.gpu == 1.8 + 1.0  # half an hour at 3.6, an hour at the default 1.0
    assert cost.amounts.cpu == 0.01
    assert cost.amounts.stored == 0.03
    assert cost.amounts.moved == 0.09
    assert cost.amounts.total == round(2.8 + 0.01 + 0.03 + 0.09, 6)
    assert (cost.currency, cost.unpriced) == ("EUR", [])


def test_unset_prices_leave_amounts_null_and_name_what_is_unpriced() -> None:
    usage = measure([render(0, 0, L40S, 60.0)], {"stitch": 5.0}, gpu_stages=(), bytes_stored=1)
    nothing = price(usage, PriceTable())
    assert nothing.amounts.model_dump() == dict.fromkeys(("gpu", "cpu", "stored", "moved", "total"))
    assert nothing.unpriced == ["gpu:NVIDIA L40S", "cpu", "stored"]
    assert nothing.usage == usage  # usage is recorded all the same
    some = price(usage, PriceTable(gpu_hour={"H100": 2.0}, cpu_hour=3.6))
    assert (some.amounts.gpu, some.amounts.cpu, some.amounts.total) == (None, 0.005, 0.005)
    assert some.unpriced == ["gpu:NVIDIA L40S", "stored"]


def test_a_total_adds_runs_up_and_refuses_mixed_currencies() -> None:
    prices = PriceTable(gpu_hour={"*": 3.6}, gb_month=1.0)
    first = price(measure([render(0, 0, H100, 10.0)], {"a": 1.0}, gpu_stages=(),
                          bytes_stored=100), prices)  # fmt: skip
    second = price(measure([render(0, 0, L40S, 5.0)], {"a": 2.0}, gpu_stages=()), prices)
    summed = total([first, second])
    assert summed is not None
    assert summed.usage.gpu_s == {"segments": 15.0}
    assert summed.usage.cpu_s == 3.0
    assert summed.usage.bytes_stored == 100
    assert summed.amounts.gpu == 0.015
    assert total([]) is None
    with pytest.raises(ValueError, match="EUR, USD"):
        total([first, first.model_copy(update={"currency": "EUR"})])


def test_gpu_prices_parse_and_bad_entries_are_refused_in_one_line() -> None:
    assert parse_gpu_prices(" H100=2.49, L40S=1.10,cpu=0,*=1 ,") == {
        "H100": 2.49, "L40S": 1.1, "cpu": 0.0, "*": 1.0,
    }  # fmt: skip
    assert parse_gpu_prices("") == {}
    for text, message in [
        ("H100", "'H100' is not CLASS=PRICE (e.g. H100=2.49)"),
        ("=2", "'=2' is not CLASS=PRICE (e.g. H100=2.49)"),
        ("H100=cheap", "'H100=cheap': 'cheap' is not a price"),
        ("H100=-1", "'H100=-1': a price is a number ≥ 0"),
        ("H100=nan", "'H100=nan': a price is a number ≥ 0"),
        ("H100=1,H100=2", "'H100' is priced twice"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)) as caught:
            parse_gpu_prices(text)
        assert str(caught.value) == message


def test_the_price_table_comes_from_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PRICE_GPU_HOUR", "PRICE_CPU_HOUR", "PRICE_GB_MONTH", "PRICE_CURRENCY"):
        monkeypatch.delenv(name, raising=False)
    assert load_settings().prices == PriceTable()
    monkeypatch.setenv("PRICE_GPU_HOUR", "H100=2.49,*=1")
    monkeypatch.setenv("PRICE_GB_MONTH", "0.015")
    monkeypatch.setenv("PRICE_CURRENCY", "EUR")
    prices = load_settings().prices
    assert prices.gpu_price("NVIDIA H100 80GB HBM3") == 2.49
    assert prices.gpu_price("NVIDIA L4") == 1.0
    assert (prices.gb_month, prices.cpu_hour, prices.currency) == (0.015, None, "EUR")
    monkeypatch.setenv("PRICE_GPU_HOUR", "H100:2.49")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == (
        "invalid configuration: PRICE_GPU_HOUR: 'H100:2.49' is not CLASS=PRICE (e.g. H100=2.49)"
    )


@pytest.mark.parametrize(
    ("drop_key", "prefix"),
    [
        ("inbox/team-a/clip/manifest.json", "inbox/team-a/"),
        ("inbox/team-b/x/clip/manifest.json", "inbox/team-b/x/"),
        ("inbox/clip/manifest.json", "inbox/"),
        (None, "-"),
        ("elsewhere/clip.json", "-"),
    ],
)
def test_the_prefix_a_drop_is_grouped_under_is_the_folder_it_was_made_in(
    drop_key: str | None, prefix: str
) -> None:
    assert drop_prefix(drop_key) == prefix
