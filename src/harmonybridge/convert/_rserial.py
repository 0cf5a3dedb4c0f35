"""A check of R's serialization stream that no part of it can run code, before R unserializes it.

``to_seurat`` puts back the R-only slots ``from_seurat`` carried in ``uns['seurat']['r']`` as
serialized R objects. A file is data, so those bytes are untrusted: R's ``unserialize`` returns a
planted promise that runs its code when used (CVE-2024-27322, R < 4.4), and closures, active
bindings, byte code and environments can run code later. :func:`unsafe_item` walks the stream item
by item (R's ``ReadItem`` in serialize.c, XDR format, versions 2 and 3) without building
anything, and names the first item that is not plain data. Allowed: NULL, vectors (logical,
integer, double, complex, character, raw, list, expression), symbols, pairlists, calls (data until
someone evaluates them: SeuratCommand keeps ``call.string``, not calls), S4 objects, the global,
base and empty environments by reference, and the compact/wrapper ALTREP classes of base R.
Refused: promises, closures, environments (which carry active bindings and closures), byte code,
builtins and specials, external pointers, weak references, persistent references, namespaces
and package environments (unserialize loads them), and any other ALTREP class.
Why a validator and not a signature: it also accepts files made elsewhere (another machine,
another version of this package) without a key to share, and what it allows cannot run.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ._log import ConversionLog

# SEXPTYPEs and the pseudo-types of serialize.c
NILSXP, SYMSXP, LISTSXP, CLOSXP, ENVSXP, PROMSXP, LANGSXP = 0, 1, 2, 3, 4, 5, 6
SPECIALSXP, BUILTINSXP, CHARSXP, LGLSXP, INTSXP, REALSXP, CPLXSXP = 7, 8, 9, 10, 13, 14, 15
STRSXP, DOTSXP, ANYSXP, VECSXP, EXPRSXP, BCODESXP, EXTPTRSXP = 16, 17, 18, 19, 20, 21, 22
WEAKREFSXP, RAWSXP, S4SXP = 23, 24, 25
REFSXP, NILVALUE_SXP, GLOBALENV_SXP, UNBOUNDVALUE_SXP, MISSINGARG_SXP = 255, 254, 253, 252, 251
BASENAMESPACE_SXP, NAMESPACESXP, PACKAGESXP, PERSISTSXP = 250, 249, 248, 247
CLASSREFSXP, GENERICREFSXP, BCREPDEF, BCREPREF, EMPTYENV_SXP, BASEENV_SXP = 246, 245, 244, 243, 242, 241
ATTRLANGSXP, ATTRLISTSXP, ALTREP_SXP = 240, 239, 238

_NAMES = {
    PROMSXP: "a promise (PROMSXP; runs code when used, CVE-2024-27322)",
    CLOSXP: "a function (CLOSXP)",
    ENVSXP: "an environment (ENVSXP; may hold active bindings and functions)",
    BCODESXP: "byte code (BCODESXP)",
    SPECIALSXP: "a primitive function (SPECIALSXP)",
    BUILTINSXP: "a primitive function (BUILTINSXP)",
    EXTPTRSXP: "an external pointer (EXTPTRSXP)",
    WEAKREFSXP: "a weak reference (WEAKREFSXP)",
    DOTSXP: "a '...' list (DOTSXP)",
    PERSISTSXP: "a persistent reference (PERSISTSXP)",
    NAMESPACESXP: "a namespace (NAMESPACESXP; unserialize loads it)",
    PACKAGESXP: "a package environment (PACKAGESXP)",
    CLASSREFSXP: "a class reference (CLASSREFSXP)",
    GENERICREFSXP: "a generic reference (GENERICREFSXP)",
    BCREPDEF: "byte code (BCREPDEF)",
    BCREPREF: "byte code (BCREPREF)",
    ATTRLANGSXP: "byte code (ATTRLANGSXP)",
    ATTRLISTSXP: "byte code (ATTRLISTSXP)",
    ANYSXP: "an ANYSXP item",
}
_VECTORS = {LGLSXP: 4, INTSXP: 4, REALSXP: 8, CPLXSXP: 16, RAWSXP: 1}
_PAIRS = (LISTSXP, LANGSXP)
_SINGLETONS = (NILVALUE_SXP, GLOBALENV_SXP, EMPTYENV_SXP, BASEENV_SXP, BASENAMESPACE_SXP, MISSINGARG_SXP)
_SINGLETONS += (UNBOUNDVALUE_SXP,)
#: ALTREP classes base R itself writes (compact sequences, deferred strings, wrappers).
_ALTREP_BASE = {"compact_intseq", "compact_realseq", "deferred_string"}
_ALTREP_BASE |= {f"wrap_{t}" for t in ("integer", "real", "logical", "complex", "raw", "string", "list")}
_MAX_DEPTH = 400


class Unsafe(ValueError):
    """The stream holds something that is not plain data (or is not a stream R wrote)."""


class _Stream:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.refs: list[str] = []  # R's reference table (symbols only: the rest is refused)

    def need(self, n: int) -> int:
        if n < 0 or self.pos + n > len(self.data):
            msg = f"the stream ends early (byte {self.pos} of {len(self.data)})"
            raise Unsafe(msg)
        at = self.pos
        self.pos += n
        return at

    def int(self) -> int:
        return struct.unpack_from(">i", self.data, self.need(4))[0]

    def length(self) -> int:
        n = self.int()
        if n == -1:
            hi, lo = self.int(), self.int()
            n = (hi << 32) + (lo & 0xFFFFFFFF)
        if n < 0:
            msg = f"a negative length at byte {self.pos}"
            raise Unsafe(msg)
        return n

    def string(self) -> bytes:
        n = self.int()
        return b"" if n == -1 else bytes(self.data[self.need(n) : self.pos])


def _header(s: _Stream) -> None:
    fmt = bytes(s.data[s.need(2) : s.pos])
    if fmt != b"X\n":
        msg = f"not an XDR serialization stream (starts {fmt!r}; harmonybridge writes 'X\\n')"
        raise Unsafe(msg)
    version = s.int()
    s.int(), s.int()  # the writer's R version, the oldest R that reads it
    if version == 3:
        s.string()  # native encoding
    elif version != 2:
        msg = f"serialization format version {version} (R writes 2 or 3)"
        raise Unsafe(msg)


def _cell(s: _Stream) -> None:
    flags = s.int()
    if flags & 0xFF != LISTSXP or flags & ((1 << 9) | (1 << 10)):
        msg = "an ALTREP object whose class record is not R's"
        raise Unsafe(msg)


def _altrep(s: _Stream, depth: int) -> None:
    """ALTREP_SXP: info (class symbol, package symbol, type), state, attributes. Base classes only."""
    _cell(s)
    cls = _symbol(s)
    _cell(s)
    pkg = _symbol(s)
    if pkg != "base" or cls not in _ALTREP_BASE:
        msg = f"an ALTREP object of class {cls!r} from {pkg!r} (unserialize would load that package)"
        raise Unsafe(msg)
    _item(s, depth + 1)  # the rest of the info pairlist (the type)
    _item(s, depth + 1)  # state
    _item(s, depth + 1)  # attributes


def _symbol(s: _Stream, flags: int | None = None) -> str | None:
    """A symbol, new (SYMSXP + its CHARSXP name, added to the reference table) or a reference to one."""
    flags = s.int() if flags is None else flags
    kind = flags & 0xFF
    if kind == SYMSXP:
        cflags = s.int()
        if cflags & 0xFF != CHARSXP:
            msg = "a symbol without a name"
            raise Unsafe(msg)
        name = s.string().decode("utf-8", "replace")
        s.refs.append(name)
        return name
    if kind == REFSXP:
        index = flags >> 8 or s.int()
        if not 0 < index <= len(s.refs):
            msg = f"a reference to item {index} of {len(s.refs)}"
            raise Unsafe(msg)
        return s.refs[index - 1]
    msg = f"a symbol expected, found an item of type {kind}"
    raise Unsafe(msg)


def _item(s: _Stream, depth: int) -> None:
    """Walk one item (and everything it holds), as R's ReadItem reads it; raise Unsafe when refused."""
    if depth > _MAX_DEPTH:
        msg = "items nested deeper than 400 levels"
        raise Unsafe(msg)
    while True:  # pairlists: loop over the CDR instead of recursing
        flags = s.int()
        kind = flags & 0xFF
        has_attr, has_tag = flags & (1 << 9), flags & (1 << 10)
        if kind in _NAMES:
            raise Unsafe(_NAMES[kind])
        if kind in _SINGLETONS:
            return
        if kind in (REFSXP, SYMSXP):
            _symbol(s, flags)  # only symbols enter the reference table: environments and the like are refused
            return
        if kind == ALTREP_SXP:
            _altrep(s, depth)
            return
        if kind in _PAIRS:
            if has_attr:
                _item(s, depth + 1)
            if has_tag:
                _item(s, depth + 1)
            _item(s, depth + 1)  # CAR
            continue  # CDR
        if kind == CHARSXP:
            n = s.int()
            if n != -1:
                s.need(n)
            return  # a CHARSXP has no attributes in the stream
        if kind in _VECTORS:
            s.need(s.length() * _VECTORS[kind])
        elif kind in (STRSXP, VECSXP, EXPRSXP):
            for _ in range(s.length()):
                _item(s, depth + 1)
        elif kind in (S4SXP, NILSXP):
            pass
        else:
            msg = f"an item of unknown type {kind}"
            raise Unsafe(msg)
        if has_attr:
            _item(s, depth + 1)
        return


def check(data: bytes) -> None:
    """Raise :class:`Unsafe` naming the first item of ``data`` that could run code, or any damage."""
    s = _Stream(bytes(data))
    _header(s)
    _item(s, 0)
    if s.pos != len(s.data):
        msg = f"{len(s.data) - s.pos} bytes after the serialized object"
        raise Unsafe(msg)


def unsafe_item(data: bytes) -> str | None:
    """What in ``data`` could run code or is not a stream R wrote, or None when it is plain data."""
    try:
        check(data)
    except Unsafe as e:
        return str(e)
    except RecursionError:
        return "items nested too deeply"
    return None


#: The R slot each carried record restores, for the conversion log.
CARRIED_SLOTS = {
    "commands": "@commands",
    "tools": "@tools",
    "misc": "Misc",
    "reductions": "reduction misc",
    "sct": "SCTModel.list",
    "split": "split layers",
}


def safe_carry(carry: Any, log: ConversionLog) -> dict[str, bytes]:
    """The carried R objects that are plain data; any other is dropped with one log line naming its slot.

    The bytes come from a file, so nothing in them may run code once R has them: each is checked
    by :mod:`._rserial` before it crosses to R (promises, functions, environments, byte code ...).
    """
    out = {}
    for k, v in dict(carry).items():
        data = np.asarray(v, dtype=np.uint8).tobytes() if not isinstance(v, bytes) else v
        why = unsafe_item(data)
        if why is None:
            out[str(k)] = data
            continue
        slot = CARRIED_SLOTS.get(str(k), str(k))
        log.add("dropped", slot, f"uns['seurat']['r'][{str(k)!r}]", "", f"not restored: holds {why}; nothing ran")
    return out
