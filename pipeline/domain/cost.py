"""What a run used and, with a price table, what it cost. Pure, no I/O.

A run's :class:`Usage` is measured from what its record already holds, each figure defined
so it can be checked against the record:

- **GPU seconds** (``gpu_s``, per stage, and ``gpu_s_by_class``, per GPU class): each
  segment render's ``Rendering.gpu_s`` (the seconds it held the worker's GPU, every attempt,
  re-renders after a failed quality check included) under stage ``segments``, plus other GPU
  work the run reports as :class:`GpuUse` (vocal separation: stage ``separation``). The class
  is the device name ComfyUI's ``/system_stats`` reports, normalised by :func:`gpu_class`.
- **CPU seconds** (``cpu_s``): the wall seconds of the run's CPU-role activities, i.e. the sum
  of ``timings_s`` over the stages that are not GPU activities (the workflow's own timing of
  each call, retries included; the record-writing calls themselves are not in it).
- **Bytes stored** (``bytes_stored``): how much the session's ``sessions/{id}/`` prefix grew
  with this run: the bytes listed under it when the run was recorded, less what earlier runs'
  records counted (never below 0). Summed over a session's runs it is the prefix's size.
- **Bytes moved** (``bytes_moved``): the bytes of the objects the run's record names (its
  inputs and every artifact it made, as listed; a failed run: the segment files it rendered),
  each written to or read from the store at least once by the run: a lower bound, not a
  count of transfers.

A :class:`PriceTable` (configuration: ``PRICE_*``) turns usage into a :class:`Cost`; a price
left unset leaves its amount ``null`` (the usage is still recorded).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from pipeline.domain.rendering import SegmentRender

SEGMENTS_STAGE = "segments"
"""The stage segment renders' GPU seconds are counted under."""
SEPARATION_STAGE = "separation"
"""The stage vocal separation's GPU seconds are counted under."""
DEFAULT_PRICE = "*"
"""The GPU price pattern that matches any class no other pattern matches."""
BYTES_PER_GB = 10**9
"""Prices per GB are per 10^9 bytes (decimal GB, as R2 and S3 bill)."""
SECONDS_PER_HOUR = 3600.0
N = TypeVar("N", int, float)

_DEVICE = re.compile(r"^\s*[a-z]+:\d+\s+(?P<name>.+?)(?:\s+:\s+\S+)?\s*$", re.IGNORECASE)
"""ComfyUI's device string: ``{torch device} {name} : {allocator}``, e.g.
``cuda:0 NVIDIA H100 80GB HBM3 : cudaMallocAsync``
(ComfyUI's ``comfy.model_management.get_torch_device_name``)."""


def gpu_class(device: str) -> str:
    """The GPU class of a device string: its name without torch's device index and allocator.

    ``'cuda:0 NVIDIA H100 80GB HBM3 : cudaMallocAsync'`` → ``'NVIDIA H100 80GB HBM3'``;
    ``'cpu'`` → ``'cpu'``; anything else is kept as given, stripped (``''`` → ``'unknown'``).
    """
    found = _DEVICE.match(device)
    name = found.group("name") if found else device.strip()
    return name or "unknown"


class GpuUse(BaseModel):
    """GPU work of a run other than segment renders (vocal separation)."""

    model_config = ConfigDict(frozen=True)

    stage: str = Field(description="The stage it is counted under, e.g. ``separation``.")
    device: str = Field(description="Where it ran, as the worker reported ('cuda', 'cpu'…).")
    gpu_s: float = Field(ge=0, description="Seconds it held the worker's GPU, wall clock.")


class PriceTable(BaseModel):
    """Prices (``PRICE_*`` in configuration); ``None``: not priced."""

    model_config = ConfigDict(frozen=True)

    gpu_hour: dict[str, float] = Field(
        default_factory=dict,
        description="GPU class pattern → price per GPU hour; a pattern matches a class that "
        "contains it (case-insensitive, the longest matching pattern wins), ``*`` any other.",
    )
    cpu_hour: float | None = Field(default=None, ge=0, description="Per CPU-activity hour.")
    gb_month: float | None = Field(
        default=None, ge=0, description="Per GB stored for one month (10^9 bytes)."
    )
    gb_moved: float | None = Field(default=None, ge=0, description="Per GB moved (10^9 bytes).")
    currency: str = Field(default="USD", description="The prices' currency.")

    def gpu_price(self, gpu_class: str) -> float | None:
        """The price per hour of a GPU class: the longest pattern it contains, else ``*``."""
        folded = gpu_class.casefold()
        matching = [p for p in self.gpu_hour if p != DEFAULT_PRICE and p.casefold() in folded]
        if matching:
            return self.gpu_hour[max(matching, key=len)]
        return self.gpu_hour.get(DEFAULT_PRICE)


def parse_gpu_prices(text: str) -> dict[str, float]:
    """``'H100=2.49,L40S=1.10,cpu=0,*=1'`` → pattern → price per hour.

    Raises ``ValueError`` with one line naming the bad entry (no ``=``, an empty pattern, a
    price that is not a number ≥ 0, a pattern given twice).
    """
    prices: dict[str, float] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        pattern, sign, value = (part.strip() for part in entry.partition("="))
        if not sign or not pattern:
            raise ValueError(f"{entry!r} is not CLASS=PRICE (e.g. H100=2.49)")
        try:
            price = float(value)
        except ValueError:
            raise ValueError(f"{entry!r}: {value!r} is not a price") from None
        if not price >= 0 or price == float("inf"):
            raise ValueError(f"{entry!r}: a price is a number ≥ 0")
        if pattern in prices:
            raise ValueError(f"{pattern!r} is priced twice")
        prices[pattern] = price
    return prices


class Usage(BaseModel):
    """What a run used (see the module's definitions)."""

    model_config = ConfigDict(frozen=True)

    gpu_s: dict[str, float] = Field(description="Stage → GPU seconds.")
    gpu_s_by_class: dict[str, float] = Field(description="GPU class → GPU seconds.")
    cpu_s: float = Field(ge=0, description="Wall seconds of the CPU-role activities.")
    bytes_stored: int | None = Field(
        default=None, ge=0, description="Bytes the session's prefix grew by with this run."
    )
    bytes_moved: int | None = Field(
        default=None, ge=0, description="Bytes of the objects the run wrote or read (lower bound)."
    )


class Amounts(BaseModel):
    """Usage priced; each amount ``None`` where its price is unset."""

    model_config = ConfigDict(frozen=True)

    gpu: float | None = Field(default=None, description="GPU seconds times their class's price.")
    cpu: float | None = Field(default=None, description="CPU seconds times PRICE_CPU_HOUR.")
    stored: float | None = Field(
        default=None, description="bytes_stored kept one month times PRICE_GB_MONTH."
    )
    moved: float | None = Field(default=None, description="bytes_moved times PRICE_GB_MOVED.")
    total: float | None = Field(
        default=None, description="The sum of the amounts that are priced; None when none is."
    )


class Cost(BaseModel):
    """A run's (or a sum of runs') usage and, where priced, its amounts."""

    model_config = ConfigDict(frozen=True)

    usage: Usage
    amounts: Amounts
    currency: str = Field(description="The amounts' currency.")
    unpriced: list[str] = Field(
        default_factory=list,
        description="The parts with usage but no price (``gpu:{class}``, ``cpu``, ``stored``, "
        "``moved``): their amounts are left out of ``total``.",
    )


def measure(
    renders: Iterable[SegmentRender],
    timings_s: Mapping[str, float],
    *,
    gpu_stages: Iterable[str],
    other_gpu: Iterable[GpuUse] = (),
    bytes_stored: int | None = None,
    bytes_moved: int | None = None,
) -> Usage:
    """A run's usage from its renders, its ``timings_s`` and the listed bytes.

    ``gpu_stages``: the names of the GPU activities in ``timings_s`` (left out of ``cpu_s``).
    A render from a worker before provenance (``rendering`` None) adds nothing.
    """
    by_stage: dict[str, float] = {}
    by_class: dict[str, float] = {}

    def add(stage: str, device: str, seconds: float) -> None:
        by_stage[stage] = by_stage.get(stage, 0.0) + seconds
        name = gpu_class(device)
        by_class[name] = by_class.get(name, 0.0) + seconds

    for render in renders:
        if render.rendering is not None:
            add(SEGMENTS_STAGE, render.rendering.device, render.rendering.gpu_s)
    for use in other_gpu:
        add(use.stage, use.device, use.gpu_s)
    gpu = set(gpu_stages)
    cpu_s = sum(seconds for stage, seconds in timings_s.items() if stage not in gpu)
    return Usage(
        gpu_s=_rounded(by_stage),
        gpu_s_by_class=_rounded(by_class),
        cpu_s=round(cpu_s, 3),
        bytes_stored=bytes_stored,
        bytes_moved=bytes_moved,
    )


def price(usage: Usage, prices: PriceTable) -> Cost:
    """``usage`` priced by ``prices``; a part with no price has a ``None`` amount."""
    unpriced: list[str] = []
    gpu: float | None = 0.0
    for name, seconds in usage.gpu_s_by_class.items():
        hourly = prices.gpu_price(name)
        if hourly is None:
            unpriced.append(f"gpu:{name}")
            gpu = None
        elif gpu is not None:
            gpu += seconds / SECONDS_PER_HOUR * hourly
    if not usage.gpu_s_by_class and not prices.gpu_hour:
        gpu = None
    cpu = _times(usage.cpu_s / SECONDS_PER_HOUR, prices.cpu_hour, "cpu", unpriced)
    stored = _times(_gb(usage.bytes_stored), prices.gb_month, "stored", unpriced)
    moved = _times(_gb(usage.bytes_moved), prices.gb_moved, "moved", unpriced)
    parts = [amount for amount in (gpu, cpu, stored, moved) if amount is not None]
    return Cost(
        usage=usage,
        amounts=Amounts(
            gpu=_money(gpu),
            cpu=_money(cpu),
            stored=_money(stored),
            moved=_money(moved),
            total=_money(sum(parts)) if parts else None,
        ),
        currency=prices.currency,
        unpriced=unpriced,
    )


def total(costs: Iterable[Cost]) -> Cost | None:
    """The sum of several costs (a session's runs, a report's group); None for none.

    Usage adds up figure by figure (a ``None`` byte count counts 0 unless all are None);
    an amount is the sum of those present, ``None`` when none is. Costs in different
    currencies are not summed: ``ValueError``.
    """
    costs = list(costs)
    if not costs:
        return None
    currencies = {cost.currency for cost in costs}
    if len(currencies) > 1:
        raise ValueError(f"costs in {', '.join(sorted(currencies))} cannot be summed")
    usage = Usage(
        gpu_s=_rounded(_merged(cost.usage.gpu_s for cost in costs)),
        gpu_s_by_class=_rounded(_merged(cost.usage.gpu_s_by_class for cost in costs)),
        cpu_s=round(sum(cost.usage.cpu_s for cost in costs), 3),
        bytes_stored=_sum_known(cost.usage.bytes_stored for cost in costs),
        bytes_moved=_sum_known(cost.usage.bytes_moved for cost in costs),
    )
    fields = ("gpu", "cpu", "stored", "moved", "total")
    amounts = Amounts(
        **{
            name: _money(_sum_known(getattr(cost.amounts, name) for cost in costs))
            for name in fields
        }
    )
    unpriced = list(dict.fromkeys(name for cost in costs for name in cost.unpriced))
    return Cost(usage=usage, amounts=amounts, currency=currencies.pop(), unpriced=unpriced)


def _times(
    quantity: float | None, unit_price: float | None, name: str, unpriced: list[str]
) -> float | None:
    if quantity is None:
        return None
    if unit_price is None:
        if quantity > 0:
            unpriced.append(name)
        return None
    return quantity * unit_price


def _gb(count: int | None) -> float | None:
    return None if count is None else count / BYTES_PER_GB


def _money(amount: float | None) -> float | None:
    """Amounts to 1e-6 of the currency unit: exact enough to sum many runs."""
    return None if amount is None else round(amount, 6)


def _rounded(seconds: Mapping[str, float]) -> dict[str, float]:
    return {name: round(value, 3) for name, value in seconds.items()}


def _merged(parts: Iterable[Mapping[str, float]]) -> dict[str, float]:
    merged: dict[str, float] = {}
    for part in parts:
        for name, value in part.items():
            merged[name] = merged.get(name, 0.0) + value
    return merged


def _sum_known(values: Iterable[N | None]) -> N | None:
    known = [value for value in values if value is not None]
    return sum(known) if known else None
