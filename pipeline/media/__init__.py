"""The media layer: pure functions over local files, ffmpeg and Pillow underneath.

``probe`` (ffprobe, exact frame counts, the default audio track), ``image`` (the start
image), ``audio`` (decode, crop, measure, pad), ``separation`` (Demucs vocals), ``frames``
(what a segment hands to the next), ``stitch`` (one encode of all segments), ``quality``
(the quality gate's measures of a segment and a seam), ``packets`` (a file's size and audio
from ffmpeg's ``framecrc`` listing, for the gate's single pass), ``preview`` (small MP4s,
the poster, a run's seam frames), ``contact_sheet`` (frame pairs and their captions on one
PNG), ``sniff`` (what an undecodable file looks like) and ``process`` (running
ffmpeg/ffprobe without a shell).

User media that cannot be used raises ``MediaError``; ffmpeg failing on files the
pipeline made itself raises ``InternalError`` with the tail of ffmpeg's stderr.
"""

from pipeline.media.frames import extract_last_frames, join_frames
from pipeline.media.image import ImageInfo, normalize_image
from pipeline.media.probe import MediaInfo, probe
from pipeline.media.stitch import StitchSegment, build_stitch_command, stitch

__all__ = [
    "ImageInfo",
    "MediaInfo",
    "StitchSegment",
    "build_stitch_command",
    "extract_last_frames",
    "join_frames",
    "normalize_image",
    "probe",
    "stitch",
]
