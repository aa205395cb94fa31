// Evaluates presentation definitions with the Presentation Exchange libraries wallets use:
// @sphereon/pex and @animo-id/pex (Credo's). Reads a JSON file of cases
// ({name, definition, credentials: [{format, credential}]}) and prints, per library and case,
// what the library says of the definition and which credentials it would select.
// Run by identity/pex_test.go; not a test of its own.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const hasher = (data, alg) => createHash(alg.replace('-', '').toLowerCase()).update(data).digest();
const libraries = ['@sphereon/pex', '@animo-id/pex'];
const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));

const out = {};
for (const name of libraries) {
  const { PEX, Status } = require(name);
  const pex = new PEX({ hasher });
  out[name] = cases.map((c) => {
    const version = PEX.definitionVersionDiscovery(c.definition);
    let problems;
    try {
      const checked = PEX.validateDefinition(c.definition);
      problems = (Array.isArray(checked) ? checked : [checked])
        .filter((r) => r.status === Status.ERROR)
        .map((r) => `${r.tag}: ${r.message}`);
    } catch (e) {
      problems = [`threw: ${e.message}`];
    }
    const selected = c.credentials.map((cred) => {
      try {
        const r = pex.selectFrom(c.definition, [cred.credential]);
        return { format: cred.format, status: r.areRequiredCredentialsPresent, errors: (r.errors || []).length };
      } catch (e) {
        return { format: cred.format, status: 'threw', error: e.message };
      }
    });
    return { name: c.name, version: version.version || version.error, problems, selected };
  });
}
process.stdout.write(JSON.stringify(out));
