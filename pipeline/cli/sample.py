"""The demo's sample image, drawn by the project so nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw


def make_sample_image(path: Path, width: int = 832, height: int = 480) -> Path:
    """A sunset over hills: enough structure that motion and crops are visible."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    horizon = height * 2 // 3
    for y in range(horizon):
        t = y / horizon
        draw.line(
            [(0, y), (width, y)], fill=(int(40 + 200 * t), int(60 + 90 * t), int(140 - 60 * t))
        )
    sun = (width * 0.62, horizon * 0.7, min(width, height) * 0.12)
    draw.ellipse(
        (sun[0] - sun[2], sun[1] - sun[2], sun[0] + sun[2], sun[1] + sun[2]), fill=(255, 214, 120)
    )
    for offset, colour in ((0, (34, 70, 40)), (height // 10, (22, 50, 30))):
        points = [
            (x, horizon + offset - int((height / 9) * abs(((x / width) * 3 % 2) - 1)))
            for x in range(0, width + 1, max(1, width // 24))
        ]
        draw.polygon([(0, height), *points, (width, height)], fill=colour)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "PNG")
    return path
