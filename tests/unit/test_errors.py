import errno

import pytest

from pipeline.domain.errors import InternalError, MediaError, refusing

SCRATCH = "/var/lib/pipeline/work/activity-x1/in/speech.wav"


def test_unexpected_exceptions_reading_input_become_refusals_without_paths() -> None:
    with pytest.raises(MediaError) as refused, refusing(MediaError, "speech.wav"):
        raise RecursionError(f"maximum recursion depth exceeded reading {SCRATCH}")
    assert not refused.value.retryable
    assert refused.value.message.startswith("speech.wav could not be read (RecursionError)")
    assert "/var" not in refused.value.message


def test_a_name_the_file_system_refuses_is_the_users_input() -> None:
    with pytest.raises(MediaError, match="ENAMETOOLONG"), refusing(MediaError, "x.wav"):
        raise OSError(errno.ENAMETOOLONG, "File name too long", SCRATCH)


def test_the_machines_own_failures_stay_retryable() -> None:
    with pytest.raises(InternalError) as failed, refusing(MediaError, "x.wav"):
        raise OSError(errno.ENOSPC, "No space left on device", SCRATCH)
    assert failed.value.retryable
    assert "/var" not in failed.value.message


def test_pipeline_errors_pass_through_unchanged() -> None:
    original = MediaError("x.wav has no audio stream")
    with pytest.raises(MediaError) as raised, refusing(MediaError, "x.wav"):
        raise original
    assert raised.value is original
