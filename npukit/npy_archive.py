"""Reading chosen arrays out of an .npz archive (data files, .npkit IR files) safely.

``numpy.load`` on an .npz reads a member named ``x.npy`` as an array, but a member named plain
``x`` holding the same bytes too, and it allocates whatever an .npy header declares. Here an
archive is a map from array name (the member name without ``.npy``; two members giving one name
are refused) to zip member, and only the arrays a caller asks for are read, each after its
header was parsed and its declared size checked: no larger than the member's own declared
(uncompressed) size, which also bounds what zipfile inflates, and charged to the load budget
(``npukit.budget``). Object arrays (pickles) are refused before any byte of them is read.
"""

from __future__ import annotations

import math
import warnings
import zipfile
from typing import IO

import numpy as np

from npukit.budget import LoadBudget
from npukit.errors import BadInputError

MAX_MEMBERS = 100_000
#: what zipfile raises on a damaged archive (CRC and header errors, truncation, unknown compression)
ZIP_ERRORS = (OSError, zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, RuntimeError)


def open_archive(file: str | IO[bytes], source: str, what: str = ".npz archive") -> tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo]]:
    """(the open zip file, {array name: member}); a damaged archive raises BadInputError
    calling the file a ``what``."""
    try:
        archive = zipfile.ZipFile(file)
        infos = archive.infolist()
    except ZIP_ERRORS as exc:
        raise BadInputError(f"{source}: not a readable {what} ({' '.join(str(exc).split())[:200]})")
    if len(infos) > MAX_MEMBERS:
        archive.close()
        raise BadInputError(f"{source}: {len(infos):,} archive members (limit {MAX_MEMBERS:,})")
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        if name in members:
            archive.close()
            raise BadInputError(f"{source}: two archive members hold the array {name!r}")
        members[name] = info
    return archive, members


#: zip compression methods Python's zipfile reads: stored, deflate, bzip2, lzma
COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


def check_member(info: zipfile.ZipInfo, source: str) -> None:
    """Refuse a zip member zipfile cannot read: encrypted, or an unknown compression method."""
    if info.flag_bits & 0x1:
        raise BadInputError(f"{source}: archive member {info.filename[:80]!r} is encrypted")
    if info.compress_type not in COMPRESSIONS:
        raise BadInputError(f"{source}: archive member {info.filename[:80]!r} uses unknown zip compression method {info.compress_type}")


def check_array(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, source: str, budget: LoadBudget) -> int:
    """Parse the header of member ``info``, check its declared size, charge it to ``budget``;
    return the declared size in bytes. Nothing past the header is read."""
    check_member(info, source)
    try:
        with archive.open(info) as member:
            shape, _, dtype = _header(member, name, source)
    except BadInputError:
        raise
    except ZIP_ERRORS as exc:
        raise BadInputError(f"{source}: {name!r} cannot be read ({' '.join(str(exc).split())[:200]})")
    if dtype.hasobject:
        raise BadInputError(f"{source}: holds Python objects (pickled) in {name!r}; npukit reads plain numeric arrays only")
    declared = math.prod(shape) * dtype.itemsize
    if declared > info.file_size:
        raise BadInputError(
            f"{source}: {name!r} declares shape {shape} ({declared:,} bytes) but the archive member holds "
            f"{info.file_size:,} bytes"
        )
    budget.charge(declared, f"array {name!r} (shape {shape}, {dtype})")
    return declared


def read_array(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, source: str, budget: LoadBudget) -> np.ndarray:
    """The array in member ``info``, read after ``check_array``."""
    check_array(archive, info, name, source, budget)
    try:
        with archive.open(info) as member, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.lib.format.read_array(member, allow_pickle=False)
    except ZIP_ERRORS as exc:  # CRC errors, truncated data
        raise BadInputError(f"{source}: {name!r} cannot be read ({' '.join(str(exc).split())[:200]})")


def _header(member, name: str, source: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        with warnings.catch_warnings():  # numpy warns about Python 2 headers: not the user's business
            warnings.simplefilter("ignore")
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                return np.lib.format.read_array_header_1_0(member)
            return np.lib.format.read_array_header_2_0(member)
    except (OSError, zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError):
        raise
    except Exception as exc:  # numpy's header parser raises ValueError, SyntaxError, TokenError...
        raise BadInputError(f"{source}: {name!r} has a corrupt .npy header ({type(exc).__name__})")
