import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { eventCatalog, eventCatalogMarkdown } from '@kiln/contracts';
import { workspaceRootFromTools } from './platform/launch';

/** `npm run catalog`: writes docs/event-catalog.md and .json from the contracts library. */
const docs = join(workspaceRootFromTools(), 'docs');
mkdirSync(docs, { recursive: true });
writeFileSync(join(docs, 'event-catalog.md'), eventCatalogMarkdown());
writeFileSync(join(docs, 'event-catalog.json'), JSON.stringify(eventCatalog(), null, 2) + '\n');
console.log(`wrote ${join(docs, 'event-catalog.md')} and event-catalog.json`);
