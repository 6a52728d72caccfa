"""Make "scanned" copies of PDFs: every page rendered to a grey image, no text layer left.

    python scripts/make_scans.py SOURCE_DIR TARGET_DIR [--dpi 300] [--angle 1.5] [--noise 12]

copies SOURCE_DIR to TARGET_DIR with each PDF replaced by its scan (other files are copied
as they are). Used by tests/test_ocr.py and benchmarks/ocr_quality.py; also handy to try OCR
on a corpus of one's own.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
from PIL import Image


def scan_images(
    source: Path | bytes, *, dpi: int = 300, angle: float = 0.0, noise: float = 0.0, seed: int = 0
) -> list[Image.Image]:
    """The pages of a PDF as grey images, turned `angle` degrees counter-clockwise and with
    Gaussian noise of standard deviation `noise` (grey levels), like a slightly crooked scan."""
    rng = np.random.default_rng(seed)
    pdf = pdfium.PdfDocument(source)
    images = []
    try:
        for page in pdf:
            image = page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
            if angle:
                image = image.rotate(angle, expand=True, fillcolor=255,
                                     resample=Image.Resampling.BILINEAR)
            if noise:
                grey = np.asarray(image, dtype=np.float32)
                grey += rng.normal(0.0, noise, grey.shape).astype(np.float32)
                image = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8), "L")
            images.append(image)
    finally:
        pdf.close()
    return images


def write_scan(images: list[Image.Image], target: Path, dpi: int = 300) -> Path:
    """An image-only PDF, one page per image; the title is left empty like a scanner's."""
    first, *rest = images
    first.save(target, "PDF", save_all=True, append_images=rest, resolution=dpi, title="")
    return target


def scan_pdf(source: Path, target: Path, *, dpi: int = 300, angle: float = 0.0,
             noise: float = 0.0, seed: int = 0) -> Path:
    images = scan_images(source, dpi=dpi, angle=angle, noise=noise, seed=seed)
    return write_scan(images, target, dpi)


def scan_folder(source: Path, target: Path, **options: float) -> list[Path]:
    """Copy `source` to `target`, every PDF replaced by its scan; returns the scans."""
    scans = []
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".pdf":
            scans.append(scan_pdf(path, out, **options))  # type: ignore[arg-type]
        else:
            shutil.copy2(path, out)
    return scans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--dpi", type=int, default=300)
    parser.add_argument("--angle", type=float, default=0.0)
    parser.add_argument("--noise", type=float, default=0.0)
    args = parser.parse_args()
    scans = scan_folder(args.source, args.target, dpi=args.dpi, angle=args.angle,
                        noise=args.noise)
    print(f"{len(scans)} PDFs scanned into {args.target}")


if __name__ == "__main__":
    main()
