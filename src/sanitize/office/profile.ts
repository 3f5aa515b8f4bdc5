import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * LibreOffice user-profile settings for converting hostile documents. The load call in
 * workers/office-pool.py also passes MacroExecutionMode NEVER and UpdateDocMode NO_UPDATE; these settings
 * are the second layer, so that a code path that ignores the load arguments still finds macros off.
 */
const SETTINGS: Array<[path: string, prop: string, value: string]> = [
  // 3 = "very high": only macros from trusted locations, and we list none. Plus the master switch.
  ['/org.openoffice.Office.Common/Security/Scripting', 'MacroSecurityLevel', '3'],
  ['/org.openoffice.Office.Common/Security/Scripting', 'DisableMacrosExecution', 'true'],
  // Images and links referenced by a document loaded from an untrusted place are not fetched.
  ['/org.openoffice.Office.Common/Security/Scripting', 'BlockUntrustedRefererLinks', 'true'],
  // Calc: never recalculate on load (a recalculation is what would evaluate DDE/WEBSERVICE formulas).
  ['/org.openoffice.Office.Calc/Formula/Load', 'OOXMLRecalcMode', '1'],
  ['/org.openoffice.Office.Calc/Formula/Load', 'ODFRecalcMode', '1'],
  // No recovery or autosave files in the profile: it is recycled, and nothing should survive a document.
  ['/org.openoffice.Office.Recovery/AutoSave', 'Enabled', 'false'],
  ['/org.openoffice.Office.Recovery/RecoveryInfo', 'Enabled', 'false'],
  ['/org.openoffice.Office.Common/Misc', 'UseLocking', 'false'],
  // No update check, no crash reporter upload, no first-start wizard (there is no network anyway).
  ['/org.openoffice.Office.Jobs/Jobs/org.openoffice.Office.Jobs:Job[\'UpdateCheck\']/Arguments', 'AutoCheckEnabled', 'false'],
  ['/org.openoffice.Office.Common/Misc', 'CrashReport', 'false'],
  ['/org.openoffice.Setup/Office', 'ooSetupInstCompleted', 'true'],
];

function xcu(): string {
  const items = SETTINGS.map(
    ([p, name, value]) =>
      `<item oor:path="${p.replace(/'/g, '&apos;')}"><prop oor:name="${name}" oor:op="fuse"><value>${value}</value></prop></item>`,
  );
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
    ...items,
    '</oor:items>',
    '',
  ].join('\n');
}

/**
 * Prepare a fresh profile directory for one converter process. When `template` holds a profile that
 * LibreOffice already initialised (saves ~3 s of first-start work), it is copied first; our settings are
 * then written over it, so a template can never weaken them.
 */
export function writeProfile(dir: string, template?: string): void {
  rmSync(dir, { recursive: true, force: true });
  if (template && existsSync(path.join(template, 'user'))) cpSync(template, dir, { recursive: true });
  mkdirSync(path.join(dir, 'user'), { recursive: true });
  writeFileSync(path.join(dir, 'user', 'registrymodifications.xcu'), xcu());
  blockEmbeddedFonts(dir);
}

/**
 * LibreOffice registers a document's embedded fonts (ODF `Fonts/`, OOXML `word/fonts/`) process-wide and keeps
 * them until exit, so a font named like a system font (ＭＳ 明朝) would draw every later document of the same
 * converter (docs/office-archives.md, "One document cannot change another"). It only ever registers them from
 * a copy it first writes under `user/temp/embeddedfonts/`; a regular file in that place makes the copy fail
 * (ENOTDIR, for root too), and LibreOffice then skips the font and falls back to the system's.
 */
function blockEmbeddedFonts(dir: string): void {
  const temp = path.join(dir, 'user', 'temp');
  rmSync(path.join(temp, 'embeddedfonts'), { recursive: true, force: true });
  mkdirSync(temp, { recursive: true });
  writeFileSync(path.join(temp, 'embeddedfonts'), '', { flag: 'wx' });
}

/**
 * True when `user/temp` holds anything but the empty placeholder file: LibreOffice kept something of a document
 * (a font by another route, a later version's cache), and the pool then recycles the converter rather than let
 * the next document meet it. Reads the sandbox-written tree with lstat only (no link is followed).
 */
export function profileTainted(dir: string): boolean {
  const temp = path.join(dir, 'user', 'temp');
  try {
    const names = readdirSync(temp);
    const st = lstatSync(path.join(temp, 'embeddedfonts'));
    return names.length !== 1 || !st.isFile() || st.size !== 0;
  } catch {
    return true;
  }
}

/** Keep an initialised profile as the template for later converters (taken before any document is opened). */
export function saveTemplate(fromDir: string, template: string): void {
  if (existsSync(path.join(template, 'user'))) return;
  const tmp = `${template}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  cpSync(fromDir, tmp, { recursive: true });
  // Nothing document-related exists yet, but drop caches LibreOffice may rebuild anyway.
  rmSync(path.join(tmp, 'user', 'backup'), { recursive: true, force: true });
  try {
    cpSync(tmp, template, { recursive: true, errorOnExist: false });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
