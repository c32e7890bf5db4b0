// The API's data access: a list of items in PostgreSQL (see dev/db/1-create-schema.sql).

/** @param {import('pg').Pool} pool */
export async function listItems(pool) {
  const { rows } = await pool.query('SELECT id, name FROM items ORDER BY id');
  return rows;
}

/** @param {import('pg').Pool} pool @param {string} name */
export async function addItem(pool, name) {
  const { rows } = await pool.query('INSERT INTO items (name) VALUES ($1) RETURNING id, name', [name]);
  return rows[0];
}
