/*
 * calls_migrations.h - the schema migrations of sql/, built into the plugin.
 *
 * calls_migrations.c is generated from sql/NNN_name.sql by
 * plugins/gen-migrations.sh at build time, so the plugin can create and
 * upgrade its own schema and the files stay runnable with psql -f.
 */
#ifndef CALLS_MIGRATIONS_H
#define CALLS_MIGRATIONS_H

typedef struct calls_migration {
	int version;
	const char *name;
	const char *sql;
} calls_migration;

extern const calls_migration calls_migrations[];
extern const int calls_migrations_count;

#endif
