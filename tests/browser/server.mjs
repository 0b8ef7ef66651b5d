// A small static server for the bundled web client (html/), for the browser test and by hand.
//
//   /            -> html/index.html, /<file> -> html/<file>
//   /vendor/janus.js, /vendor/adapter.js -> Debian's libjs-janus-gateway and libjs-webrtc-adapter
//   /config.js   -> window.CALLS_CONFIG = {server, auth} for the Janus under test
//
// By hand:  node tests/browser/server.mjs [--janus ws://127.0.0.1:8188] [--auth none|jwt]
//           [--port 8080] [--minutes 60]      (stops by itself after --minutes)
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const HTML_DIR = path.resolve(HERE, '..', '..', 'html');

// Debian package paths (libjs-janus-gateway, libjs-webrtc-adapter).
export const VENDOR = {
	'janus.js': '/usr/share/javascript/janus-gateway/janus.js',
	'adapter.js': '/usr/share/javascript/webrtc-adapter/adapter.js',
};

const TYPES = {
	'.html': 'text/html; charset=utf-8',
	'.js': 'text/javascript; charset=utf-8',
	'.mjs': 'text/javascript; charset=utf-8',
	'.css': 'text/css; charset=utf-8',
	'.svg': 'image/svg+xml',
	'.png': 'image/png',
	'.json': 'application/json',
	'.ico': 'image/x-icon',
};

// Starts the server; resolves to {url, close()}. It closes itself after lifetimeMs at the latest.
export function startServer({ janus = 'ws://127.0.0.1:8188', auth = 'none', host = '127.0.0.1', port = 0,
	lifetimeMs = 10 * 60 * 1000, log = null } = {}) {
	const configJs = 'window.CALLS_CONFIG = ' + JSON.stringify({ server: janus, auth }) + ';\n';
	const server = http.createServer((req, res) => {
		const send = (code, type, body) => {
			res.writeHead(code, { 'Content-Type': type, 'Cache-Control': 'no-store' });
			res.end(body);
		};
		if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
		let urlPath;
		try {
			urlPath = decodeURIComponent(new URL(req.url, 'http://x').pathname);
		} catch (e) {
			return send(400, 'text/plain', 'bad request\n');
		}
		if (log) log(req.method + ' ' + urlPath);
		let file;
		if (urlPath === '/config.js') return send(200, TYPES['.js'], configJs);
		if (urlPath.startsWith('/vendor/')) {
			file = VENDOR[urlPath.slice('/vendor/'.length)];
			if (!file) return send(404, 'text/plain', 'not found\n');
		} else {
			const rel = urlPath === '/' ? 'index.html' : urlPath.replace(/^\/+/, '');
			file = path.resolve(HTML_DIR, rel);
			if (file !== HTML_DIR && !file.startsWith(HTML_DIR + path.sep)) return send(403, 'text/plain', 'forbidden\n');
		}
		fs.readFile(file, (err, body) => {
			if (err) return send(404, 'text/plain', 'not found\n');
			send(200, TYPES[path.extname(file)] || 'application/octet-stream', req.method === 'HEAD' ? '' : body);
		});
	});
	return new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(port, host, () => {
			const addr = server.address();
			const close = () => new Promise((done) => {
				clearTimeout(timer);
				server.closeAllConnections?.();
				server.close(() => done());
			});
			const timer = setTimeout(close, lifetimeMs);
			timer.unref();
			resolve({ url: 'http://' + host + ':' + addr.port + '/', close, server });
		});
	});
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
	const args = process.argv.slice(2);
	const opt = (name, dflt) => {
		const i = args.indexOf('--' + name);
		return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
	};
	const minutes = Number(opt('minutes', '60'));
	const s = await startServer({
		janus: opt('janus', 'ws://127.0.0.1:8188'),
		auth: opt('auth', 'none'),
		host: opt('host', '127.0.0.1'),
		port: Number(opt('port', '8080')),
		lifetimeMs: minutes * 60 * 1000,
	});
	console.log('serving ' + HTML_DIR + ' at ' + s.url + ' for ' + minutes + ' minutes');
	s.server.on('close', () => process.exit(0));
	process.on('SIGINT', () => s.close());
	process.on('SIGTERM', () => s.close());
}
