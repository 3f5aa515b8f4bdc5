"""Link check for workers/office-pool.py: runs inside the converter's sandbox, before LibreOffice loads a document.

links_removed(path) returns the path of a copy in which nothing points outside the document (pictures, fills,
bullets, fonts, sections, templates, OLE objects linked by URL), or raises Refused when the document cannot be
checked. See docs/office-archives.md, "No link out of the document".
"""
import html
import os
import re
import xml.parsers.expat
import zipfile


class Refused(Exception):
    """The document cannot be made link-free here; LibreOffice does not get it (REFUSED)."""


# Attributes whose value LibreOffice loads as a URL (pictures, fills, bullets, fonts, linked sections, templates,
# OLE objects): any namespace, matched by local name. ODF uses xlink:href and form:image-data; OOXML puts its
# links in relationships, plus src/href attributes in VML.
LINK_ATTRS = (b"href", b"image-data", b"src")
ODF_HYPERLINKS = {
    "urn:oasis:names:tc:opendocument:xmlns:text:1.0 a",
    "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0 a",
}
RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
# xml:base would move where an in-package-looking href resolves; ODF and OOXML never use it.
XML_BASE = "http://www.w3.org/XML/1998/namespace base"
HYPERLINK_REL = "/relationships/hyperlink"
XML_DECL = re.compile(rb'^(<\?xml[^>]*?encoding\s*=\s*)("[^"]*"|\'[^\']*\')')
ATTR = re.compile(rb'([^\s=<>/"\']+)\s*=\s*("[^"]*"|\'[^\']*\')')
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")


def package_names(names):
    """Entry names and every folder above them ("Object 1" for "Object 1/content.xml")."""
    out = set()
    for n in names:
        parts = n.rstrip("/").split("/")
        out.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    return out


def odf_internal(value, names):
    """An ODF href that names an entry (or folder, "./Object 1") of this package; anything else is outside."""
    v = value.strip()
    while v.startswith("./"):
        v = v[2:]
    if not v or SCHEME.match(v) or v.startswith("/") or "\\" in v or "%" in v:
        return False
    if any(seg in ("", ".", "..") for seg in v.rstrip("/").split("/")):
        return False
    return v.rstrip("/") in names


def ooxml_internal(value, names):
    """OOXML src/href in VML: a package-relative path; a scheme, an absolute or an upward path is outside."""
    v = value.strip()
    return not (SCHEME.match(v) or v.startswith(("/", "\\")) or "\\" in v or ".." in v or "%" in v)


def as_utf8(data):
    """The part as UTF-8 bytes (UTF-16 parts are re-encoded), or Refused for encodings we do not read here."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16").encode("utf-8")
        return XML_DECL.sub(rb'\1"UTF-8"', text, count=1)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\x00" in data[:4]:
        raise Refused("UTF-16/32 without a byte order mark")
    head = data.lstrip()[:1]
    if head != b"<":
        raise Refused("not XML")
    m = XML_DECL.match(data.lstrip())
    if m and m.group(2)[1:-1].lower() not in (b"utf-8", b"utf8", b"us-ascii", b"ascii"):
        raise Refused("XML encoding %r" % m.group(2))
    return data


def clean_xml(data, internal, names, ooxml):
    """The part with every outside link emptied (attribute value ""), or Refused when it cannot be read.

    The byte check below is sound because attribute names are literal bytes in UTF-8 (entities only occur in
    values); a DTD is refused outright (ODF and OOXML have none), so no entity can hide or fetch anything.
    """
    data = as_utf8(data)
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise Refused("DTD")
    if not any(a in data for a in LINK_ATTRS + (b"Target", b"base")):
        return data
    flagged = []
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")

    def start(name, attrs):
        if XML_BASE in attrs:
            raise Refused("xml:base")
        if name == RELS_NS + " Relationship":
            target = attrs.get("Target", "")
            external = attrs.get("TargetMode", "").lower() == "external"
            if (external or SCHEME.match(target.strip())) and not attrs.get("Type", "").endswith(HYPERLINK_REL):
                flagged.append((parser.CurrentByteIndex, (b"Target",)))
            return
        if not ooxml and name in ODF_HYPERLINKS:
            return  # a hyperlink is never fetched; the PDF's link annotations are dropped by flattening
        for key, value in attrs.items():
            local = key.rsplit(" ", 1)[-1].encode()
            if local in LINK_ATTRS and value.strip() and not internal(value, names):
                flagged.append((parser.CurrentByteIndex, LINK_ATTRS))
                return

    def no_dtd(*_):
        raise Refused("DTD")

    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = no_dtd
    parser.EntityDeclHandler = no_dtd
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as e:
        raise Refused("XML: %s" % e)
    out = []
    pos = 0
    for at, locals_ in flagged:
        end = tag_end(data, at)
        tag = ATTR.sub(lambda m: blank(m, locals_, internal, names), data[at:end])
        out += [data[pos:at], tag]
        pos = end
    out.append(data[pos:])
    return b"".join(out)


def tag_end(data, at):
    """Index just past the start tag at `at` (expat has checked it is well formed: quotes balance)."""
    i = at + 1
    while True:
        c = data[i:i + 1]
        if c in (b'"', b"'"):
            i = data.index(c, i + 1)
        elif c == b">":
            return i + 1
        i += 1


def blank(m, locals_, internal, names):
    local = m.group(1).rsplit(b":", 1)[-1]
    value = html.unescape(m.group(2)[1:-1].decode("utf-8"))
    if local not in locals_ or (local != b"Target" and (not value.strip() or internal(value, names))):
        return m.group(0)
    return m.group(1) + b'=""'


# An XML part is read whole (LibreOffice does the same); past this it is refused rather than exhaust the
# converter's memory cap, where it would die and be retried for nothing.
XML_PART_MAX = 256 * 1024 * 1024


def read_capped(z, info):
    with z.open(info) as f:
        data = f.read(XML_PART_MAX + 1)
    if len(data) > XML_PART_MAX:
        raise Refused("XML part over %d bytes" % XML_PART_MAX)
    return data


def links_removed(path):
    """Path of a copy of the document with every outside link emptied (the input itself when not ZIP or XML).

    A package is always rewritten, entry by entry, from what this script read: LibreOffice then opens exactly the
    bytes that were checked, whatever tricks the original ZIP plays on readers (duplicate names, hidden data).
    """
    base, ext = os.path.splitext(path)
    out = base + ".checked" + ext
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(OLE_MAGIC):
        return path  # binary Office: see docs/office-archives.md, "Known gaps"
    # A ZIP behind other bytes is refused, not passed on: a reader may still find it there.
    if head.startswith(b"PK\x03\x04") or zipfile.is_zipfile(path):
        if not head.startswith(b"PK\x03\x04"):
            raise Refused("ZIP not at the start")
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            listed = [i.filename for i in infos]
            if len(set(listed)) != len(listed):
                raise Refused("duplicate entries")
            names = package_names(listed)
            ooxml = "[Content_Types].xml" in names
            internal = ooxml_internal if ooxml else odf_internal
            with zipfile.ZipFile(out, "w") as w:
                for info in infos:
                    stored = info.compress_type == zipfile.ZIP_STORED
                    entry = zipfile.ZipInfo(info.filename, date_time=info.date_time)
                    entry.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
                    try:
                        if info.filename.lower().endswith((".xml", ".rels")):
                            data = read_capped(z, info)
                            w.writestr(entry, clean_xml(data, internal, names, ooxml), compresslevel=None if stored else 1)
                        else:
                            # Pictures and other binary parts are copied in chunks: memory stays flat whatever
                            # their size (RLIMIT_FSIZE bounds the copy on disk).
                            entry.file_size = info.file_size
                            with z.open(info) as src, w.open(entry, "w") as dst:
                                while True:
                                    chunk = src.read(1 << 20)
                                    if not chunk:
                                        break
                                    dst.write(chunk)
                    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError) as e:
                        raise Refused("entry: %s" % e)
        return out
    if head.lstrip().startswith(b"{\\rtf"):
        return rtf_fields_removed(path, out)
    head = head.lstrip(b"\xef\xbb\xbf\xff\xfe\x00 \t\r\n")
    if not head.startswith(b"<"):
        return path
    with open(path, "rb") as f:
        data = clean_xml(f.read(), odf_internal, set(), False)
    with open(out, "wb") as f:
        f.write(data)
    return out


INCLUDEPICTURE = re.compile(rb"includepicture", re.I)


def rtf_fields_removed(path, out):
    """RTF: an INCLUDEPICTURE field makes LibreOffice load the picture it names. Its name is spoiled where it is
    written plainly (the field then shows its stored result); written any other way (escapes, split across
    groups), the document is refused."""
    with open(path, "rb") as f:
        data = f.read()
    data = INCLUDEPICTURE.sub(b"MUKAIKA-NO-LINK", data)
    if b"includepicture" in rtf_letters(data):
        raise Refused("RTF INCLUDEPICTURE written indirectly")
    with open(out, "wb") as f:
        f.write(data)
    return out


RTF_TOKEN = re.compile(rb"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?|\\'([0-9a-fA-F]{2})|\\(.)|([{}])|([^\\{}]+)", re.S)


def rtf_letters(data):
    """The letters of an RTF file's field instructions (\\fldinst groups) as a reader sees them: escapes decoded,
    \\u fallbacks skipped per \\uc, control words and group marks dropped, lower case."""
    out = []
    uc = [1]
    inst = [False]
    skip = 0
    pos = 0
    while pos < len(data):
        m = RTF_TOKEN.match(data, pos)
        if not m:
            break
        pos = m.end()
        word, param, hexbyte, symbol, group, text = m.groups()
        if group:
            if group == b"{":
                uc.append(uc[-1])
                inst.append(inst[-1])
            elif len(uc) > 1:
                uc.pop()
                inst.pop()
            skip = 0
            continue
        if word == b"fldinst":
            inst[-1] = True
            continue
        if word == b"bin" and param:
            pos += max(0, int(param))
            continue
        if word == b"uc" and param:
            uc[-1] = max(0, int(param))
            continue
        if word == b"u" and param:
            if inst[-1]:
                out.append(chr(int(param) % 65536).encode("utf-8", "ignore"))
            skip = uc[-1]
            continue
        if word or symbol:
            continue
        chunk = bytes([int(hexbyte, 16)]) if hexbyte else text
        if skip:
            drop = min(skip, len(chunk))
            chunk, skip = chunk[drop:], skip - drop
        if inst[-1]:
            out.append(chunk)
    return re.sub(rb"[^a-z]", b"", b"".join(out).lower())
