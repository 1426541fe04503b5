"""Multi-page TIFFs as sequences: plain stacks (one page per frame) and ImageJ/OME hyperstacks.

A hyperstack's axes say what its pages are. Its channels (``C``) are a microscope's, not
colour: a frame holds every channel of one time point and slice, channels last, and the
denoiser takes them apart. Its other leading axes (``T``, ``Z``) run in the file's order.
Written back, the planes keep the input's axes and order (ImageJ metadata where the order is
ImageJ's). The :class:`~nlmeans_cli.io.sequences.Sequence` that these functions read is the
caller's; they only use its attributes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from .atomic import ImageFileError
from .metadata import imagej_settings, page_records
from .pyramids import pyramid_name, pyramid_of
from .tiff_metadata import record_extratags

__all__ = ["frame_tiles", "open_tiff_stack", "tiff_stack_frames", "voxel_spacing",
           "write_tiff_stack"]


def open_tiff_stack(path: Path, max_pixels: int) -> dict:
    """Read a multi-page TIFF's header: what a :class:`Sequence` needs to know of it.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    max_pixels : int
        Refuse pages or tiles larger than this (before anything is decoded).

    Returns
    -------
    dict
        ``n_frames``, ``frame_shape``, ``dtype``, ``notes``, and for a hyperstack with
        channels ``axes``, ``series_shape`` and ``separate_channels``.

    Raises
    ------
    ImageFileError
        If a page or tile is larger than *max_pixels*.

    Notes
    -----
    Reads every page's header, no pixel data.
    """
    from .tiffs import check_pages, image_pages, open_tiff, sample_roles, stored_plane_by_plane

    with open_tiff(path) as tiff:
        try:
            check_pages(tiff, max_pixels, str(path))
        except ValueError as error:
            raise ImageFileError(str(error)) from None
        first = tiff.pages.first
        series = tiff.series[0]
        axes = series.axes
        notes = []
        pyramid = pyramid_of(tiff, first)
        if pyramid:
            notes.append(f"{pyramid_name(pyramid)} left out: the output holds the frames at "
                         "full resolution alone")
        spacing = voxel_spacing(tiff)
        carried = _stack_metadata(tiff, first, notes)
        if _has_channel_axis(axes, first):
            # A microscope's channels (ImageJ or OME): planes of their own, kept apart.
            channels = int(series.shape[axes.index("C")])
            n_frames = int(np.prod(series.shape[:-2])) // channels
            shape = (int(first.imagelength), int(first.imagewidth), channels)
            if channels > 1:
                notes.append(f"axes {axes}: the {channels} channels are denoised apart, "
                             "each with its own noise level")
            return {"n_frames": n_frames, "frame_shape": shape, "dtype": np.dtype(first.dtype),
                    "notes": notes, "axes": axes,
                    "series_shape": tuple(int(n) for n in series.shape),
                    "separate_channels": True, "spacing": spacing, "carried": carried,
                    "depths": _depths(axes)}
        shape = tuple(int(n) for n in first.shape)
        if stored_plane_by_plane(first):
            shape = (*shape[1:], shape[0])
        if first.photometric.name == "PALETTE":
            shape = (*shape[:2], 3)
        elif first.photometric.name == "SEPARATED" and len(shape) == 3:
            shape = (*shape[:2], 3 + (shape[2] - 4))
        # Alpha or bands, as a still's are
        label, bands = sample_roles(first, several=len(shape) == 3)
        if label:
            carried["extrasamples"] = (label,)  # labelled as it was
        return {"n_frames": len(image_pages(tiff)), "frame_shape": shape,
                "dtype": np.dtype(first.dtype), "notes": notes, "spacing": spacing,
                "carried": carried, "depths": _depths(axes), "alpha": label is not None,
                "bands": bands}


def _depths(axes: str) -> bool:
    """Whether a series of *axes* holds a volume's slices: a depth (Z) and no time (T)."""
    return "Z" in axes and "T" not in axes


def _stack_metadata(tiff, first, notes: list[str]) -> dict:
    """Return what a TIFF output keeps of a stack: its metadata, resolution and codec.

    What is dropped of it is said in *notes*.
    """
    from .tiffs import compression_of, stored_plane_by_plane, tile_of

    carried: dict = {}
    x, y = first.tags.get("XResolution"), first.tags.get("YResolution")
    if x is not None and y is not None:
        carried["resolution"] = (x.value[0] / x.value[1], y.value[0] / y.value[1])
        unit = first.tags.valueof("ResolutionUnit")
        if unit is not None and not tiff.is_imagej:
            carried["resolutionunit"] = int(unit)
    if tiff.is_imagej:
        carried["imagej"] = imagej_settings(tiff)
    elif tiff.is_ome and tiff.ome_metadata:
        carried["ome"] = tiff.ome_metadata
    elif tiff.is_shaped and tiff.shaped_metadata:
        # tifffile's own description (JSON): its axes and what its writer added.
        shaped = {key: value for key, value in tiff.shaped_metadata[0].items()
                  if key != "shape"}
        if shaped:
            carried["shaped"] = shaped
    # A photographer's or an archive's records and a map's georeferencing on the first page,
    # written back there.
    extratags = record_extratags(*page_records(first, 1, notes))
    if extratags:
        carried["extratags"] = extratags
    compression, options, _ = compression_of(first, first.dtype)
    if compression is not None:
        carried["compression"] = {"compression": compression, **options}
    if tiff.is_bigtiff:
        carried["bigtiff"] = True
    tile = tile_of(first)
    if tile and not tiff.is_imagej:
        carried["tile"] = tile
    if stored_plane_by_plane(first) and first.photometric.name in ("RGB", "MINISBLACK"):
        carried["planarconfig"] = "separate"
    return carried


def voxel_spacing(tiff) -> tuple[float, float, float] | None:
    """Return a stack's voxel spacing (Z, Y, X) from its ImageJ or OME metadata, if it has one.

    Parameters
    ----------
    tiff : tifffile.TiffFile
        The open file.

    Returns
    -------
    tuple of 3 float or None
        ImageJ: ``spacing`` for Z and the first page's resolution tags for Y and X; OME:
        ``PhysicalSizeZ/Y/X``. ``None`` when the Z step or the pixel size is missing.
    """
    if tiff.is_ome and tiff.ome_metadata:
        import xml.etree.ElementTree as ElementTree

        try:
            root = ElementTree.fromstring(tiff.ome_metadata)
        except ElementTree.ParseError:
            return None
        for element in root.iter():
            if element.tag.endswith("Pixels"):
                sizes = [element.get(f"PhysicalSize{axis}") for axis in "ZYX"]
                if all(sizes):
                    return _positive(float(size) for size in sizes)
        return None
    if tiff.is_imagej:
        z_step = (tiff.imagej_metadata or {}).get("spacing")
        page = tiff.pages.first
        resolution = [page.tags.get(name) for name in ("YResolution", "XResolution")]
        if z_step and all(resolution):
            try:
                steps = [tag.value[1] / tag.value[0] for tag in resolution]
            except (TypeError, ZeroDivisionError, IndexError):
                return None
            return _positive([float(z_step), *steps])
    return None


def _positive(values) -> tuple[float, float, float] | None:
    values = tuple(values)
    return values if len(values) == 3 and all(v > 0 for v in values) else None


def _has_channel_axis(axes: str, first) -> bool:
    return "C" in axes and int(first.samplesperpixel) == 1 and axes.endswith("YX")


def _channel_pages(sequence) -> np.ndarray:
    """Page numbers by frame and channel, for a sequence with channels kept apart."""
    leading = sequence.series_shape[:-2]
    pages = np.arange(int(np.prod(leading))).reshape(leading)
    pages = np.moveaxis(pages, sequence.axes.index("C"), -1)
    return pages.reshape(-1, pages.shape[-1])


def tiff_stack_frames(sequence) -> Iterator[np.ndarray]:
    """Yield the frames of a TIFF sequence, interpreted by their photometric tag.

    Parameters
    ----------
    sequence : Sequence
        As opened from :func:`open_tiff_stack`'s fields.

    Yields
    ------
    numpy.ndarray
        One frame: grey, RGB, or a hyperstack's channels last.
    """
    from .tiffs import image_pages, open_tiff, page_pixels, stored_plane_by_plane

    with open_tiff(sequence.path) as tiff:
        if sequence.separate_channels:
            for page_numbers in _channel_pages(sequence):
                yield np.stack([tiff.asarray(key=int(number), series=0)
                                for number in page_numbers], axis=-1)
            return
        first = tiff.pages.first
        for page in image_pages(tiff):
            data = page.asarray()
            if stored_plane_by_plane(page):
                data = np.moveaxis(data, 0, -1)
            pixels, notes = page_pixels(first, data, str(sequence.path))
            if notes and not any(note in sequence.notes for note in notes):
                sequence.notes.extend(notes)
            yield pixels


def write_tiff_stack(temporary: Path, frames: Iterable[np.ndarray], like) -> int:
    """Write frames as a multi-page TIFF shaped like the sequence *like*.

    Parameters
    ----------
    temporary : pathlib.Path
        The file to write (the caller renames it).
    frames : iterable of numpy.ndarray
        The frames, as :func:`tiff_stack_frames` yields them.
    like : Sequence
        The input sequence; a hyperstack's axes and order are kept.

    Returns
    -------
    int
        The number of frames written.

    Notes
    -----
    Frames are written as they come, except for a hyperstack whose channels are not its
    fastest-varying leading axis (all frames are then held).
    """
    import tifffile

    if like.separate_channels:
        return _write_channel_stack(temporary, frames, like)
    count = 0
    # A written frame's alpha, if any, is its last channel (write_sequence puts it back)
    photometric = ("rgb" if len(like.frame_shape) == 3 and like.frame_shape[2] >= 3
                   and not like.bands else "minisblack")
    carried = like.carried or {}
    options = dict(carried.get("compression", {}))
    if like.bands:
        options["planarconfig"] = "contig"  # the bands are samples, not a depth
    if like.alpha:
        options["extrasamples"] = carried.get("extrasamples", ("unassalpha",))
    if "resolution" in carried:
        options["resolution"] = carried["resolution"]
        if "resolutionunit" in carried:
            options["resolutionunit"] = carried["resolutionunit"]

    planes_apart = carried.get("planarconfig") == "separate" and len(like.frame_shape) == 3
    shape = ((like.frame_shape[2], *like.frame_shape[:2]) if planes_apart
             else tuple(like.frame_shape))
    if planes_apart:
        options["planarconfig"] = "separate"

    def counted(frames):
        nonlocal count
        for frame in frames:
            count += 1
            # Colour stored plane by plane is written back so: samples first.
            yield np.ascontiguousarray(np.moveaxis(frame, -1, 0)) if planes_apart else frame

    first_options = ({"description": carried["ome"], "metadata": None} if "ome" in carried
                     else {"metadata": carried["shaped"]} if "shaped" in carried else {})
    if "extratags" in carried:
        first_options["extratags"] = carried["extratags"]
    if "imagej" in carried and like.n_frames is not None and len(like.frame_shape) == 2:
        # ImageJ needs the whole shape up front: the frames are streamed into it.
        tifffile.imwrite(temporary, counted(frames), shape=(like.n_frames, *like.frame_shape),
                         dtype=like.dtype, imagej=True, photometric=photometric,
                         metadata={"axes": "ZYX", **carried["imagej"]},
                         extratags=carried.get("extratags", ()), **options)
        return count
    tile = carried.get("tile")
    if "compression" in options or tile:
        # Compressed or tiled pages cannot be appended to a series one by one (tifffile's
        # contiguous mode): the series is declared with its whole shape and the frames (or
        # their tiles) streamed into it (held first only where their number is not known).
        if like.n_frames is None:
            frames = list(frames)
        n_frames = like.n_frames if like.n_frames is not None else len(frames)
        data = counted(frames)
        if tile and planes_apart:
            data = (plane for frame in data for plane in frame)
        tifffile.imwrite(temporary, frame_tiles(data, tile) if tile else data,
                         shape=(n_frames, *shape), dtype=like.dtype, tile=tile,
                         photometric=photometric, **first_options, **options,
                         bigtiff=carried.get("bigtiff"))
        return count
    with tifffile.TiffWriter(temporary, bigtiff=_needs_bigtiff(like)) as tiff:
        for frame in counted(frames):
            # One page per frame, appended to one series: readers see (frames, rows, ...).
            tiff.write(frame, photometric=photometric, contiguous=True, **options,
                       **(first_options if count == 1 else {}))
    return count


def _needs_bigtiff(like) -> bool:
    """Tell whether the output stack is a BigTIFF: the input's was, or it would pass 4 GB."""
    carried = like.carried or {}
    if carried.get("bigtiff"):
        return True
    if like.n_frames is None:
        return False
    frame_bytes = np.dtype(like.dtype).itemsize * int(np.prod(like.frame_shape))
    # tifffile's own margin under 4 GB, for the pages' tags.
    return like.n_frames * frame_bytes > 2**32 - 2**25


def _write_channel_stack(temporary: Path, frames: Iterable[np.ndarray], like) -> int:
    """Write frames of separate channels back as the input's planes, in its axis order."""
    import tifffile

    pages = _channel_pages(like)
    count = 0

    def planes():
        nonlocal count
        if like.axes.index("C") == len(like.axes) - 3:
            # Channels vary fastest among the leading axes (ImageJ's order): frame k holds
            # pages k*C to k*C+C-1, written as the frames come.
            for frame in frames:
                count += 1
                for channel in range(frame.shape[-1]):
                    yield frame[..., channel]
            return
        # Another order (OME's CZYX, ...): page numbers are not in frame order, so the
        # frames are held and the planes written by page number.
        held = list(frames)
        count = len(held)
        by_page = {}
        for k, frame in enumerate(held):
            for channel, number in enumerate(pages[k]):
                by_page[int(number)] = frame[..., channel]
        for number in range(len(by_page)):
            yield by_page[number]

    carried = like.carried or {}
    # An OME file stays one (its XML describes these pages, in this order); ImageJ's
    # hyperstack would drop its physical sizes and names. A BigTIFF stays one too, which
    # ImageJ's format cannot be.
    imagej = ("ome" not in carried and not carried.get("bigtiff")
              and all(axis in "TZCYX" for axis in like.axes) and _in_imagej_order(like.axes))
    metadata = {"axes": like.axes, **carried.get("imagej", {})} if imagej else {
        "axes": like.axes}
    options = dict(carried.get("compression", {}))
    if "resolution" in carried:
        options["resolution"] = carried["resolution"]
    if "ome" in carried and not imagej:
        options.update(description=carried["ome"])
        metadata = None
    tile = None if imagej else carried.get("tile")  # ImageJ's hyperstacks are striped
    tifffile.imwrite(temporary, frame_tiles(planes(), tile) if tile else planes(),
                     shape=like.series_shape, dtype=like.dtype, imagej=imagej,
                     metadata=metadata, photometric="minisblack", tile=tile, **options,
                     extratags=carried.get("extratags", ()), bigtiff=carried.get("bigtiff"))
    return count


def frame_tiles(frames: Iterable[np.ndarray], tile: tuple[int, int]) -> Iterator[np.ndarray]:
    """Yield each frame's tiles, row by row, those at its edges padded with zeros.

    Parameters
    ----------
    frames : iterable of numpy.ndarray
        Frames (or planes), rows and columns first.
    tile : tuple of 2 int
        The tiles' rows and columns.

    Yields
    ------
    numpy.ndarray
        Contiguous tiles of the frames' dtype, as ``tifffile.imwrite`` takes a tiled series
        from an iterator.
    """
    rows, columns = tile
    for frame in frames:
        for top in range(0, frame.shape[0], rows):
            for left in range(0, frame.shape[1], columns):
                block = frame[top:top + rows, left:left + columns]
                if block.shape[:2] != (rows, columns):
                    padded = np.zeros((rows, columns, *frame.shape[2:]), frame.dtype)
                    padded[:block.shape[0], :block.shape[1]] = block
                    block = padded
                yield np.ascontiguousarray(block)


def _in_imagej_order(axes: str) -> bool:
    positions = ["TZCYX".index(axis) for axis in axes]
    return positions == sorted(positions)
