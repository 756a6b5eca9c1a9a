"""Type-checked by mypy in ``make test``, never run: calls that must not fit a spec.

Each mismatch carries a ``type: ignore`` for the error mypy gives it: a wrong input leaves
no ``InputT`` that fits both the spec and the argument (``misc``), a wrong result type makes
the spec itself the wrong argument (``arg-type``). mypy runs with
``warn_unused_ignores``, so if a spec ever stopped rejecting one (say ``ActivitySpec`` became
covariant, or ``execute`` took ``Any``), the ignore would go unused and ``make test`` fail.
"""

from __future__ import annotations

from pipeline.domain.contracts import (
    PrepareAudioInput,
    PreparedAudio,
    PreparedImage,
    PrepareImageInput,
)
from pipeline.workflows.session import SessionWorkflow
from pipeline.workflows.specs import PREPARE_AUDIO, PREPARE_IMAGE, execute


async def matching_calls(
    workflow: SessionWorkflow, image: PrepareImageInput, audio: PrepareAudioInput
) -> tuple[PreparedImage, PreparedAudio]:
    """The control: the same calls with the right pairs pass without an ignore."""
    return await workflow._call(PREPARE_IMAGE, image), await execute(PREPARE_AUDIO, audio)


async def mismatched_inputs(workflow: SessionWorkflow, audio: PrepareAudioInput) -> None:
    await workflow._call(PREPARE_IMAGE, audio)  # type: ignore[misc]
    await execute(PREPARE_IMAGE, audio)  # type: ignore[misc]


async def mismatched_outputs(
    workflow: SessionWorkflow, image: PrepareImageInput
) -> tuple[PreparedAudio, PreparedAudio]:
    prepared: PreparedAudio = await workflow._call(PREPARE_IMAGE, image)  # type: ignore[arg-type]
    executed: PreparedAudio = await execute(PREPARE_IMAGE, image)  # type: ignore[arg-type]
    return prepared, executed
