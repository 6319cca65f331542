// The original service's shape, fixed: one pg Pool, every client released, sane timeouts,
// config from the environment. Used only as the reference in bench/node_vs_python.py.
"use strict";
const express = require("express");
const { Pool } = require("pg");

const pool = new Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.DB_POOL_MAX || 10),
  connectionTimeoutMillis: 2000,
});
const app = express();
app.disable("x-powered-by");
app.disable("etag");

const COLUMNS = "id, state, country, city_name, country_code, population, latitude, longitude, timezone";

app.get("/healthz", (req, res) => res.json({ status: "ok" }));

app.get("/api/cities", async (req, res) => {
  try {
    const { rows } = await pool.query(`SELECT ${COLUMNS} FROM cities ORDER BY id LIMIT 50`);
    res.json(rows);
  } catch (err) {
    res.status(503).json({ error: String(err) });
  }
});

app.get("/api/cities/:id", async (req, res) => {
  try {
    const { rows } = await pool.query({ name: "item", text: `SELECT ${COLUMNS} FROM cities WHERE id = $1`, values: [Number(req.params.id)] });
    if (rows.length === 0) return res.status(404).json({ error: "not found" });
    res.json(rows[0]);
  } catch (err) {
    res.status(503).json({ error: String(err) });
  }
});

const port = Number(process.env.PORT || 3000);
app.listen(port, "127.0.0.1", () => console.log(`listening on ${port}`));
