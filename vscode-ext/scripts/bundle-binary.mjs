// Copies the dsecore binary into the extension (bin/dsecore), so the .vsix
// carries its own adapter. DSECORE names it; default ../bin/dsecore.
import { copyFileSync, chmodSync, mkdirSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';

const src = resolve(process.env.DSECORE ?? '../bin/dsecore');
if (!existsSync(src)) {
  console.error(`bundle-binary: ${src} does not exist (make build first, or set DSECORE)`);
  process.exit(1);
}
mkdirSync('bin', { recursive: true });
copyFileSync(src, 'bin/dsecore');
chmodSync('bin/dsecore', 0o755);
console.log(`bundled ${src}`);
