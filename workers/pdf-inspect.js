// Runs INSIDE the renderer sandbox under `mutool run` (MuPDF's own JavaScript, mujs: ES5, strict mode).
// docs/renderer.md, "PDF engine". Reads one untrusted PDF and prints ONE line of JSON to stdout:
//   {"status":"ok","pages":N,"bounds":[[x0,y0,x1,y1],...],"rewritten":bool}
//   {"status":"encrypted"|"wrong-password"|"corrupt"|"no-pages"}
// `bounds` (rotation applied) is given only when N <= maxPages. When a font had to be repaired or the file
// was decrypted, the repaired document is written to outPath and "rewritten" is true: render that file.
// stdin: one line, the password as hex ("" = none); kept out of argv, which other users could read.
// argv: inPath outPath maxPages
'use strict';

var inPath = scriptArgs[0];
var outPath = scriptArgs[1];
var maxPages = Number(scriptArgs[2]);

function say(o) {
  print(JSON.stringify(o));
}

// Hex → the string whose UTF-8 bytes MuPDF compares with the document's password (mujs has neither
// `escape` nor `substr`; decodeURIComponent decodes UTF-8 percent escapes).
function fromHex(h) {
  if (!/^([0-9a-f]{2})*$/.test(h)) return null;
  try {
    return decodeURIComponent(h.replace(/(..)/g, '%$1'));
  } catch (e) {
    return null; // not UTF-8
  }
}

// mujs in MuPDF 1.21 calls forEach(key, value); later versions call (value, key): accept both.
function entries(o, fn) {
  if (!o || typeof o.isDictionary !== 'function' || !o.isDictionary()) return;
  o.forEach(function (a, b) {
    if (a && typeof a.resolve === 'function') fn(a);
    else if (b && typeof b.resolve === 'function') fn(b);
  });
}

function get(o, key) {
  if (!o || typeof o.get !== 'function') return null;
  var v = o.get(key);
  if (v === undefined || v === null) return null;
  return typeof v.resolve === 'function' ? v.resolve() : v;
}

function isName(o, name) {
  return o !== null && typeof o.isName === 'function' && o.isName() && o.asName() === name;
}

// A Type0 font whose CIDFont has no /FontDescriptor (old Japanese PDFs relying on the viewer's
// HeiseiMin/HeiseiKakuGo) makes MuPDF draw the Shift_JIS bytes with a Latin font ("日本語" → "“ú–{Œê").
// A minimal, non-embedded descriptor lets MuPDF pick its built-in CJK font for the CIDSystemInfo
// ordering, as Acrobat and pdf.js do. Same repair as child-pdf-repair.ts does for MuPDF.js.
function patchType0(doc, font) {
  if (!isName(get(font, 'Subtype'), 'Type0')) return false;
  var desc = get(font, 'DescendantFonts');
  if (desc === null || typeof desc.isArray !== 'function' || !desc.isArray() || desc.length < 1) return false;
  var cid = desc[0];
  if (!cid || typeof cid.resolve !== 'function') return false;
  cid = cid.resolve();
  if (typeof cid.isDictionary !== 'function' || !cid.isDictionary() || get(cid, 'FontDescriptor') !== null) return false;
  var fd = doc.newDictionary();
  fd.put('Type', doc.newName('FontDescriptor'));
  var base = get(cid, 'BaseFont');
  fd.put('FontName', base !== null && base.isName() ? base : doc.newName('Unknown'));
  fd.put('Flags', 6);
  fd.put('FontBBox', [0, -120, 1000, 880]);
  fd.put('ItalicAngle', 0);
  fd.put('Ascent', 880);
  fd.put('Descent', -120);
  fd.put('CapHeight', 700);
  fd.put('StemV', 80);
  cid.put('FontDescriptor', doc.addObject(fd));
  return true;
}

// Fonts of page `index`: its own or inherited /Resources, and one level of form XObjects.
function repairPageFonts(doc, index) {
  var patched = 0;
  function visit(res, depth) {
    if (res === null || typeof res.isDictionary !== 'function' || !res.isDictionary()) return;
    entries(get(res, 'Font'), function (f) {
      if (patchType0(doc, f.resolve())) patched++;
    });
    if (depth > 0) return;
    entries(get(res, 'XObject'), function (x) {
      var xo = x.resolve();
      if (isName(get(xo, 'Subtype'), 'Form')) visit(get(xo, 'Resources'), depth + 1);
    });
  }
  var node = doc.findPage(index);
  for (var i = 0; i < 8 && node !== null && typeof node.isDictionary === 'function' && node.isDictionary(); i++) {
    var res = get(node, 'Resources');
    if (res !== null && res.isDictionary()) {
      visit(res, 0);
      break;
    }
    node = get(node, 'Parent');
  }
  return patched;
}

function main() {
  var line = '';
  try {
    line = readline() || '';
  } catch (e) {
    line = ''; // no stdin: no password
  }
  var password = fromHex(line);
  var doc;
  try {
    doc = new PDFDocument(inPath);
  } catch (e) {
    return say({ status: 'corrupt' });
  }
  var decrypted = false;
  if (doc.needsPassword()) {
    if (!line) return say({ status: 'encrypted' });
    if (password === null) return say({ status: 'wrong-password' });
    if (!doc.authenticatePassword(password)) return say({ status: 'wrong-password' });
    decrypted = true;
  }
  var count;
  try {
    count = doc.countPages();
  } catch (e) {
    return say({ status: 'corrupt' });
  }
  if (!(count >= 1)) return say({ status: 'no-pages' });
  if (count > maxPages) return say({ status: 'ok', pages: count, bounds: [], rewritten: false });
  var bounds = [];
  var patched = 0;
  for (var i = 0; i < count; i++) {
    try {
      patched += repairPageFonts(doc, i);
    } catch (e) {
      // A repair is best effort; the page renders as MuPDF would without it.
    }
    var b;
    try {
      b = doc.loadPage(i).bound();
    } catch (e) {
      return say({ status: 'corrupt' });
    }
    bounds.push([Number(b[0]), Number(b[1]), Number(b[2]), Number(b[3])]);
  }
  var rewritten = false;
  if (patched > 0 || decrypted) {
    // Written whole (streams copied as they are): an incremental save would need a copy of the input
    // first. A failed save leaves the original to render, without the font repair.
    try {
      doc.save(outPath, decrypted ? 'decrypt' : '');
      rewritten = true;
    } catch (e) {
      if (decrypted) return say({ status: 'corrupt' });
    }
  }
  say({ status: 'ok', pages: count, bounds: bounds, rewritten: rewritten });
}

main();
