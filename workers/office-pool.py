#!/usr/bin/python3
"""Resident LibreOffice converter for Mukaika. Runs inside the bubblewrap sandbox (no network, uid nobody).

Starts one headless soffice on a private UNO pipe and converts documents to PDF on request.
Line protocol, one JSON object per line:
  stdin:  {"in": "/job/in.docx", "out": "/job/out.pdf"}
  stdout: {"ready": true} once soffice answers, then per request
          {"ok": true} | {"ok": false, "code": "REFUSED" | "LOAD_FAILED" | "EXPORT_FAILED"}
          (REFUSED: this script would not hand the document to soffice, which never saw it)
stdout is the data channel: diagnostics (ours and soffice's) go to stderr only.
Passwords never come here: encrypted documents are decrypted in a separate child before conversion.

Before LibreOffice sees a ZIP package (ODF, OOXML) or a flat ODF file, it is rewritten here so that nothing in it
points outside itself (office_links.py): see docs/office-archives.md, "No link out of the document".
"""
import json
import os
import subprocess
import sys
import time
import zipfile

import uno
import unohelper
from com.sun.star.beans import PropertyValue
from com.sun.star.task import XInteractionHandler

from office_links import Refused, links_removed

PIPE = "mukaika_lo_%d" % os.getpid()
PROFILE = sys.argv[1]
SOFFICE = "/usr/lib/libreoffice/program/soffice.bin"


def prop(name, value):
    p = PropertyValue()
    p.Name = name
    p.Value = value
    return p


def start_office():
    # A UNO pipe is a unix socket in this sandbox's private /tmp: there is no TCP listener at all.
    args = [
        SOFFICE, "--headless", "--invisible", "--nologo", "--norestore", "--nodefault", "--nolockcheck",
        "-env:UserInstallation=file://" + PROFILE, "--accept=pipe,name=%s;urp;" % PIPE,
    ]
    spawn = lambda: subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=sys.stderr, stderr=sys.stderr)
    proc = spawn()
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
    deadline = time.time() + 60
    restarts = 0
    while True:
        try:
            ctx = resolver.resolve("uno:pipe,name=%s;urp;StarOffice.ComponentContext" % PIPE)
            break
        except Exception:
            # Exit 81 is soffice asking for a restart after it initialised a new profile (oosplash does this
            # on the desktop; we run soffice.bin directly so that we own its lifetime).
            if proc.poll() == 81 and restarts < 2:
                restarts += 1
                proc = spawn()
                continue
            if proc.poll() is not None or time.time() > deadline:
                raise SystemExit("soffice did not start (exit %s)" % proc.poll())
            time.sleep(0.05)
    desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
    return proc, desktop


class AbortEverything(unohelper.Base, XInteractionHandler):
    """Answers every question (passwords, repair, update links, enable macros) with Abort: nothing waits."""

    def handle(self, request):
        abort = uno.getTypeByName("com.sun.star.task.XInteractionAbort")
        for c in request.getContinuations():
            if c.queryInterface(abort) is not None:
                c.select()
                return


def export_filter(doc):
    if doc.supportsService("com.sun.star.sheet.SpreadsheetDocument"):
        return "calc_pdf_Export"
    if doc.supportsService("com.sun.star.presentation.PresentationDocument"):
        return "impress_pdf_Export"
    if doc.supportsService("com.sun.star.drawing.DrawingDocument"):
        return "draw_pdf_Export"
    return "writer_pdf_Export"


def convert(desktop, req):
    try:
        source = links_removed(req["in"])
    except (Refused, zipfile.BadZipFile, zipfile.LargeZipFile, OSError, UnicodeError, ValueError, EOFError, RuntimeError) as e:
        print("refused before load: %s" % str(e)[:200], file=sys.stderr)
        return {"ok": False, "code": "REFUSED"}
    load = (
        prop("Hidden", True),
        prop("ReadOnly", True),
        # MacroExecMode.NEVER_EXECUTE = 0 and UpdateDocMode.NO_UPDATE = 0: no macros, no link/DDE refresh.
        prop("MacroExecutionMode", 0),
        prop("UpdateDocMode", 0),
        prop("InteractionHandler", AbortEverything()),
    )
    try:
        doc = desktop.loadComponentFromURL(uno.systemPathToFileUrl(source), "_blank", 0, load)
    except Exception as e:  # IOException / IllegalArgumentException: refused, broken or encrypted
        print("load failed: %s" % type(e).__name__, file=sys.stderr)
        doc = None
    if doc is None:
        return {"ok": False, "code": "LOAD_FAILED"}
    try:
        doc.storeToURL(uno.systemPathToFileUrl(req["out"]), (prop("FilterName", export_filter(doc)),))
        return {"ok": True}
    except Exception as e:
        print("export failed: %s" % type(e).__name__, file=sys.stderr)
        return {"ok": False, "code": "EXPORT_FAILED"}
    finally:
        try:
            doc.close(True)
        except Exception:
            pass


def main():
    proc, desktop = start_office()
    out = sys.stdout
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        reply = convert(desktop, json.loads(line))
        if proc.poll() is not None:
            # soffice crashed or was killed mid-document: no answer; our exit tells the pool to retry.
            raise SystemExit("soffice died (exit %s)" % proc.poll())
        out.write(json.dumps(reply) + "\n")
        out.flush()
    try:
        desktop.terminate()
    except Exception:
        pass
    proc.wait(timeout=10)


if __name__ == "__main__":
    main()
