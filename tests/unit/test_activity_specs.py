"""The activity table against the activities: each registered name has one spec, the
method registered under it takes the spec's input and returns the spec's output, and it
lives on the worker (``pipeline.worker.run``) that serves the spec's task queue."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio import activity

from activities.comfy import ComfyActivities
from activities.intake import IntakeActivities
from activities.media import MediaActivities
from activities.notify import NotifyActivities
from activities.preview import PreviewActivities
from activities.provenance import ProvenanceActivities
from activities.quality import QualityActivities
from activities.reconcile import ReconcileActivities
from activities.records import RecordActivities
from activities.reprocess import ReprocessActivities
from activities.separation import SeparationActivities
from pipeline.workflows import specs

CPU_WORKER = (
    IntakeActivities,
    RecordActivities,
    MediaActivities,
    PreviewActivities,
    ProvenanceActivities,
    QualityActivities,
    NotifyActivities,
    ReprocessActivities,
    ReconcileActivities,
)
GPU_WORKER = (ComfyActivities, SeparationActivities)


def registered() -> dict[str, tuple[activity._Definition, specs.QueueKind]]:
    """Every ``@activity.defn`` method, resolved the way ``Worker`` resolves it."""
    found: dict[str, tuple[activity._Definition, specs.QueueKind]] = {}
    for queue, classes in ((specs.QueueKind.CPU, CPU_WORKER), (specs.QueueKind.GPU, GPU_WORKER)):
        for cls in classes:
            for member in vars(cls).values():
                definition = activity._Definition.from_callable(member)
                if definition is not None:
                    assert definition.name
                    assert definition.name not in found
                    found[definition.name] = (definition, queue)
    return found


def test_every_spec_has_one_activity_and_every_activity_a_spec() -> None:
    names = [spec.name for spec in specs.ALL]
    assert len(names) == len(set(names))
    assert set(registered()) == set(names)


@pytest.mark.parametrize("spec", specs.ALL, ids=lambda spec: spec.name)
def test_the_registered_method_fits_its_spec(spec: specs.ActivitySpec[Any, Any]) -> None:
    definition, queue = registered()[spec.name]
    assert definition.arg_types == [spec.input_type]
    assert definition.ret_type is spec.output_type
    assert queue is spec.queue
