// The desktop shell: one locked-down window showing the built renderer over app://. The station core
// runs in plain Node (src/); this file only hosts it, so that everything testable is tested without Electron.
import { app, BrowserWindow, net, protocol, session } from 'electron';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { appOrigin, contentSecurityPolicy, denyPermissions, lockDown } from './security.js';

const rendererRoot = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'renderer',
  'dist',
);

protocol.registerSchemesAsPrivileged([
  { scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true } },
]);

function serveRenderer(): void {
  protocol.handle('app', async (request) => {
    const { pathname } = new URL(request.url);
    const file = path.normalize(path.join(rendererRoot, decodeURIComponent(pathname)));
    // Refuse anything outside the renderer folder (path traversal through encoded '..').
    if (!file.startsWith(rendererRoot + path.sep)) return new Response('not found', { status: 404 });
    const response = await net.fetch(pathToFileURL(file).toString());
    const headers = new Headers(response.headers);
    headers.set('Content-Security-Policy', contentSecurityPolicy);
    return new Response(response.body, { status: response.status, headers });
  });
}

async function openMainWindow(): Promise<void> {
  const window = new BrowserWindow({
    width: 1280,
    height: 800,
    title: 'Provisioning station',
    webPreferences: { contextIsolation: true, sandbox: true, nodeIntegration: false },
  });
  await window.loadURL(`${appOrigin}/index.html`);
}

app.on('web-contents-created', (_event, contents) => lockDown(contents));
app.on('window-all-closed', () => app.quit());

await app.whenReady();
denyPermissions(session.defaultSession);
serveRenderer();
await openMainWindow();
