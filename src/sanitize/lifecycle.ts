import { closeOfficePool } from './office/index.js';
import { stopRendererSpares } from './render/renderer.js';

/**
 * Stops what the sanitizers keep warm between documents (a spare renderer child, the LibreOffice pool) so a
 * process can exit: the offline CLI when its one file is done, a worker on shutdown.
 */
export async function stopSanitizers(): Promise<void> {
  stopRendererSpares();
  await closeOfficePool();
}
