"""All SQL of the api, one module per table family. Functions take an asyncpg connection (or
pool) so that callers compose them inside one transaction; project scoping is part of every
query (`WHERE project_id = $n`), never a filter applied afterwards."""
