"""The EPUB zip and package, checked before ebooklib sees them.

ebooklib trusts its input: it reads every member into memory (a 1 MB zip holding a
1 GiB member took `plan` to 3 GB), recurses once per TOC level, and parses the OPF,
NCX and nav with parsers we cannot configure. So every member is inflated here first
(streamed, counting bytes: zip headers can lie) against the caps in `limits`, the
package documents ebooklib will parse are validated with `xmlsafe`, and ebooklib is
then handed a reader that loads only what is read aloud (documents and the cover):
images, fonts and styles stay in the zip. Nothing is ever extracted to disk.
"""

from __future__ import annotations

import posixpath
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from lxml import etree

from pipeline.errors import BookError, DRMError
from pipeline.ingest import limits
from pipeline.ingest.xmlsafe import check_xml, parse_document

CONTAINER = "META-INF/container.xml"
ENCRYPTION = "META-INF/encryption.xml"
OPF_NS = "{http://www.idpf.org/2007/opf}"
CONTAINER_NS = "{urn:oasis:names:tc:opendocument:xmlns:container}"
ENC_NS = "{http://www.w3.org/2001/04/xmlenc#}"
# Font obfuscation only mangles fonts; any other algorithm means encrypted content.
OBFUSCATION_ALGORITHMS = frozenset({"http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"})
FONT_SUFFIXES = (".ttf", ".otf", ".woff", ".woff2", ".eot")
DRM_MESSAGE = (
    "{name}: this EPUB is DRM-protected (META-INF/encryption.xml encrypts its content); remove the DRM "
    "with the tool of your bookseller or use a DRM-free copy"
)
_SAFE_PARSER = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": True}


@dataclass(frozen=True)
class Package:
    """What the OPF says, as far as loading goes: which members ebooklib may skip."""

    opf: str
    skip: frozenset[str]  # members never read aloud (images, fonts, CSS): not loaded
    covers: tuple[str, ...]  # members that may be the cover image
    warnings: tuple[str, ...] = field(default=())


def inspect_epub(path: Path) -> Package:
    """Check the zip and its package documents; BookError (or DRMError) on any problem."""
    _check_is_zip(path)
    try:
        with zipfile.ZipFile(path) as zf:
            names = _check_members(zf, path.name)
            if CONTAINER not in names:
                raise BookError(f"{path.name}: is not an EPUB (no {CONTAINER} in the zip)")
            if ENCRYPTION in names and _encrypts_content(zf.read(ENCRYPTION)):
                raise DRMError(DRM_MESSAGE.format(name=path.name))
            return _package(zf, names, path.name)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, RuntimeError,
            NotImplementedError, ValueError) as exc:
        detail = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else exc.__class__.__name__
        raise BookError(f"{path.name}: is not a readable EPUB (damaged zip: {detail})") from None


def _check_is_zip(path: Path) -> None:
    """BookError for an empty file, a truncated zip, or something that is not a zip."""
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise BookError(f"{path.name}: cannot read the file ({exc.strerror or exc})") from None
    if not head:
        raise BookError(f"{path.name}: is an empty file, not an EPUB")
    if not zipfile.is_zipfile(path):
        if head == b"PK\x03\x04":
            raise BookError(f"{path.name}: is a damaged or truncated zip (its central directory is missing); "
                            "download or copy the EPUB again")
        raise BookError(f"{path.name}: is not an EPUB (not a zip archive)")


def _check_members(zf: zipfile.ZipFile, book: str) -> set[str]:
    """Every member: a safe name, not password-encrypted, and inflating within the caps."""
    infos = zf.infolist()
    if len(infos) > limits.MAX_ZIP_MEMBERS:
        raise BookError(f"{book}: the zip has {len(infos):,} members, more than the cap of {limits.MAX_ZIP_MEMBERS:,}")
    total = 0
    for info in infos:
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or (parts and parts[0].endswith(":")):
            raise BookError(f"{book}: zip member {name!r} has an unsafe path (absolute or with '..')")
        if info.flag_bits & 0x1:
            raise BookError(f"{book}: zip member {name} is password-encrypted; use a DRM-free copy")
        cap = min(limits.MAX_MEMBER_BYTES, limits.MAX_ZIP_BYTES - total)
        if info.file_size > limits.MAX_MEMBER_BYTES:
            raise _too_big(book, name, info.file_size)
        total += _inflated_size(zf, info, book, cap)
    return {i.filename for i in infos}


def _inflated_size(zf: zipfile.ZipFile, info: zipfile.ZipInfo, book: str, cap: int) -> int:
    """Bytes the member really inflates to, streamed (never held), stopping past `cap`."""
    size = 0
    with zf.open(info) as stream:
        while chunk := stream.read(limits.INFLATE_CHUNK):
            size += len(chunk)
            if size > cap:
                if cap < limits.MAX_MEMBER_BYTES:
                    raise BookError(f"{book}: the zip inflates to more than {limits.mib(limits.MAX_ZIP_BYTES)} "
                                    f"(the cap for a whole book), reached at member {info.filename}")
                raise _too_big(book, info.filename, size)
    return size


def _too_big(book: str, name: str, size: int) -> BookError:
    return BookError(f"{book}: zip member {name} inflates to more than {limits.mib(limits.MAX_MEMBER_BYTES)} "
                     f"(the cap per member; {size:,} bytes or more)")


def _encrypts_content(data: bytes) -> bool:
    """True unless every encrypted entry is a font under an obfuscation algorithm."""
    try:
        check_xml(data, ENCRYPTION)
        root = etree.fromstring(data, etree.XMLParser(**_SAFE_PARSER))
    except (etree.XMLSyntaxError, BookError):
        return True  # cannot tell what is encrypted: assume the worst
    for enc in root.iter(f"{ENC_NS}EncryptedData"):
        method = enc.find(f"{ENC_NS}EncryptionMethod")
        algorithm = method.get("Algorithm", "") if method is not None else ""
        ref = enc.find(f".//{ENC_NS}CipherReference")
        uri = (ref.get("URI", "") if ref is not None else "").lower()
        if algorithm not in OBFUSCATION_ALGORITHMS and not uri.endswith(FONT_SUFFIXES):
            return True
    return False


# --- the package documents ---------------------------------------------------------------


def _read_xml(zf: zipfile.ZipFile, name: str, book: str) -> etree._Element:
    """Validate (depth, size, no entities), then parse a package document."""
    data = zf.read(name)
    check_xml(data, f"{book}: {name}")
    try:
        return etree.fromstring(data, etree.XMLParser(recover=True, **_SAFE_PARSER))
    except etree.XMLSyntaxError as exc:
        raise BookError(f"{book}: {name}: is not well-formed XML ({exc})") from None


def _package(zf: zipfile.ZipFile, names: set[str], book: str) -> Package:
    container = _read_xml(zf, CONTAINER, book)
    rootfile = next((r.get("full-path", "") for r in container.iter(f"{CONTAINER_NS}rootfile")
                     if r.get("media-type") == "application/oebps-package+xml"), "")
    if not rootfile:
        raise BookError(f"{book}: {CONTAINER} names no package document "
                        "(no rootfile of type application/oebps-package+xml)")
    opf_name = posixpath.normpath(rootfile)
    if opf_name not in names:
        raise BookError(f"{book}: {CONTAINER} names {rootfile}, which is not in the zip")
    opf = _read_xml(zf, opf_name, book)
    base = posixpath.dirname(opf_name)
    items = _manifest(opf, base)
    cover_ids = {m.get("content", "") for m in opf.iter(f"{OPF_NS}meta") if m.get("name") == "cover"}
    covers = tuple(n for i, (n, media, props) in items.items()
                   if media.startswith("image/") and ("cover-image" in props or i in cover_ids))
    spine = opf.find(f"{OPF_NS}spine")
    refs = [r.get("idref") or "" for r in (spine if spine is not None else [])]
    keep = {n for n, media, _ in items.values() if _is_document(media)} | set(covers)
    keep |= {items[r][0] for r in refs if r in items}
    warnings = _check_toc_documents(zf, refs, items, names, book)
    skip = frozenset(n for n, _, _ in items.values() if n not in keep)
    return Package(opf_name, skip, covers, tuple(warnings))


def _manifest(opf: etree._Element, base: str) -> dict[str, tuple[str, str, frozenset[str]]]:
    """id -> (member name, media type, properties) of every manifest item."""
    items = {}
    for item in opf.iter(f"{OPF_NS}item"):
        href = unquote(item.get("href") or "")
        name = posixpath.normpath(posixpath.join(base, href)) if href else ""
        items[item.get("id") or ""] = (name, (item.get("media-type") or "").lower(),
                                       frozenset((item.get("properties") or "").split()))
    return items


def _is_document(media: str) -> bool:
    """XHTML, HTML, NCX and other XML that is not an image (SVG covers are kept as covers)."""
    return not media.startswith("image/") and ("html" in media or "xml" in media or not media)


def _check_toc_documents(zf: zipfile.ZipFile, refs: list[str], items: dict[str, tuple[str, str, frozenset[str]]],
                         names: set[str], book: str) -> list[str]:
    """Validate the NCX and nav (ebooklib parses and recurses over them); spine items must exist."""
    if len(refs) > limits.MAX_ZIP_MEMBERS:
        raise BookError(f"{book}: the spine lists {len(refs):,} items, more than the cap of {limits.MAX_ZIP_MEMBERS:,}")
    ref_set = set(refs)
    warnings = [f"{book}: the spine lists '{r}', which is not in the manifest; skipped"
                for r in dict.fromkeys(refs) if r not in items]
    for ident, (name, media, props) in items.items():
        is_nav = "nav" in props and "html" in media
        is_ncx = media == "application/x-dtbncx+xml"
        is_text = ident in ref_set
        if not (is_nav or is_ncx or is_text):
            continue
        if name not in names:
            raise BookError(f"{book}: the package lists {name or '(no href)'} (id '{ident}'), which is not in the zip")
        if is_nav:
            parse_document(zf.read(name), f"{book}: {name}")
        elif is_ncx:
            check_xml(zf.read(name), f"{book}: {name}")
    return warnings


def make_reader(path: Path, package: Package, options: dict[str, object]):  # type: ignore[no-untyped-def]
    """An ebooklib EpubReader that leaves `package.skip` members unread (empty content)."""
    from ebooklib import epub

    class _Reader(epub.EpubReader):  # ebooklib is untyped
        def read_file(self, name: str) -> bytes:
            if posixpath.normpath(unquote(name)) in package.skip:
                return b""
            try:
                return bytes(super().read_file(name))
            except KeyError:  # an unused manifest entry without its file: the spine's were checked
                return b""

    return _Reader(str(path), options)
