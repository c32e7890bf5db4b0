// A small HTTP API over the items table. PG* environment variables say where the database is.
import { createServer } from 'node:http';
import pg from 'pg';
import { addItem, listItems } from './items.js';

const pool = new pg.Pool();
const port = Number(process.env.PORT ?? 3000);

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
}

createServer(async (req, res) => {
  try {
    if (req.method === 'GET' && req.url === '/')
      return send(res, 200, { status: 'ok', service: 'workshop-api' });
    if (req.method === 'GET' && req.url === '/items') return send(res, 200, await listItems(pool));
    if (req.method === 'POST' && req.url === '/items') {
      let body = '';
      for await (const chunk of req) body += chunk;
      const { name } = JSON.parse(body || '{}');
      if (typeof name !== 'string' || !name) return send(res, 400, { error: 'expected {"name": "..."}' });
      return send(res, 201, await addItem(pool, name));
    }
    send(res, 404, { error: 'not found' });
  } catch (error) {
    send(res, 500, { error: error.message });
  }
}).listen(port, () => console.log(`api: listening on port ${port}`));
