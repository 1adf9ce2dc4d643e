//! The migrations themselves: they apply to an empty database, each one's down migration restores exactly the
//! schema before it, and everything applies again afterwards.
#![allow(clippy::expect_used, clippy::panic)] // Tests fail loudly, with the reason in the message.

mod common;

use std::collections::BTreeSet;

use carillon_db::MIGRATOR;
use sqlx::PgPool;
use sqlx::migrate::MigrationType;

/// Everything the schema defines in `public`, one line per object, with its definition and comment; sqlx's own
/// bookkeeping table left out.
async fn schema_snapshot(pool: &PgPool) -> BTreeSet<String> {
    const QUERIES: [&str; 7] = [
        // Tables, sequences, indexes, views, with their comments.
        "SELECT 'relation ' || c.relkind::text || ' ' || c.relname || ' ' || coalesce(obj_description(c.oid, 'pg_class'), '')
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relname NOT LIKE '\\_sqlx\\_migrations%'",
        // Columns: type, nullability, default, generation, comment.
        "SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                || ' notnull=' || a.attnotnull || ' generated=' || a.attgenerated::text || ' identity=' || a.attidentity::text
                || ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
                || ' ' || coalesce(col_description(c.oid, a.attnum), '')
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
           AND c.relname <> '_sqlx_migrations'",
        "SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
         FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> '_sqlx_migrations'",
        "SELECT 'index ' || indexname || ' ' || indexdef FROM pg_indexes
         WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations'",
        "SELECT 'function ' || p.proname || ' ' || pg_get_functiondef(p.oid) || ' '
                || coalesce(obj_description(p.oid, 'pg_proc'), '')
         FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace",
        "SELECT 'trigger ' || tgname || ' ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal",
        "SELECT 'type ' || typname FROM pg_type
         WHERE typnamespace = 'public'::regnamespace AND typname NOT LIKE '%\\_sqlx\\_migrations'",
    ];
    let mut snapshot = BTreeSet::new();
    for query in QUERIES {
        let lines: Vec<String> = sqlx::query_scalar(query).fetch_all(pool).await.expect(query);
        snapshot.extend(lines);
    }
    let extensions: Vec<String> =
        sqlx::query_scalar("SELECT 'extension ' || extname FROM pg_extension WHERE extname <> 'plpgsql'")
            .fetch_all(pool)
            .await
            .expect("list extensions");
    snapshot.extend(extensions);
    snapshot
}

fn versions() -> Vec<i64> {
    let mut versions: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    versions.sort_unstable();
    versions.dedup();
    versions
}

#[tokio::test]
async fn migrate_applies_every_migration_to_an_empty_database() {
    let pool = common::empty_database().await;
    assert_eq!(carillon_db::schema_version(&pool).await.expect("version before"), None);
    carillon_db::migrate(&pool).await.expect("migrate");
    assert_eq!(
        carillon_db::schema_version(&pool).await.expect("version after"),
        Some(carillon_db::latest_schema_version())
    );
    assert_eq!(carillon_db::latest_schema_version(), *versions().last().expect("at least one migration"));

    let tables: BTreeSet<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations'",
    )
    .fetch_all(&pool)
    .await
    .expect("list tables")
    .into_iter()
    .collect();
    let expected = [
        "aliases",
        "call_records",
        "devices",
        "domains",
        "emergency_numbers",
        "forwarding",
        "lines",
        "nodes",
        "outbound_route_trunks",
        "outbound_routes",
        "registrations",
        "sequential_ring_steps",
        "trunks",
        "user_classes",
        "users",
    ];
    assert_eq!(tables, expected.into_iter().map(str::to_owned).collect());

    // Migrating again is a no-op.
    carillon_db::migrate(&pool).await.expect("migrate twice");
}

#[tokio::test]
async fn every_table_and_column_is_commented() {
    let pool = common::migrated_database().await;
    let uncommented: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname || coalesce('.' || a.attname, '')
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> '_sqlx_migrations'
           AND ((a.attname IS NULL AND obj_description(c.oid, 'pg_class') IS NULL)
             OR (a.attname IS NOT NULL AND col_description(c.oid, a.attnum) IS NULL
                 -- Self-explanatory: row ids, the owning row's id, creation time.
                 AND a.attname NOT IN ('id', 'created_at') AND a.attname NOT LIKE '%\\_id'))
         ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("find uncommented columns");
    let uncommented_tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> '_sqlx_migrations'
           AND obj_description(c.oid, 'pg_class') IS NULL",
    )
    .fetch_all(&pool)
    .await
    .expect("find uncommented tables");
    assert_eq!(uncommented_tables, Vec::<String>::new());
    assert_eq!(uncommented, Vec::<String>::new());
}

#[test]
fn every_migration_is_reversible_and_transactional() {
    for version in versions() {
        let kinds: BTreeSet<String> =
            MIGRATOR.iter().filter(|m| m.version == version).map(|m| format!("{:?}", m.migration_type)).collect();
        let expected: BTreeSet<String> =
            [MigrationType::ReversibleUp, MigrationType::ReversibleDown].iter().map(|t| format!("{t:?}")).collect();
        assert_eq!(kinds, expected, "migration {version} needs an up and a down file");
    }
    for migration in MIGRATOR.iter() {
        assert!(
            !migration.no_tx,
            "migration {} {} must run in a transaction",
            migration.version, migration.description
        );
    }
}

#[tokio::test]
async fn each_down_migration_restores_the_schema_before_its_up_and_all_apply_again() {
    let pool = common::empty_database().await;
    let versions = versions();
    let empty = schema_snapshot(&pool).await;
    assert_eq!(empty, BTreeSet::new(), "a fresh database has no Carillon objects");

    // Apply one by one, remembering the schema before each migration.
    let mut before = Vec::with_capacity(versions.len());
    for &version in &versions {
        before.push(schema_snapshot(&pool).await);
        MIGRATOR.run_to(version, &pool).await.unwrap_or_else(|e| panic!("apply {version}: {e}"));
        assert_eq!(carillon_db::schema_version(&pool).await.expect("version"), Some(version));
        assert_ne!(
            schema_snapshot(&pool).await,
            *before.last().expect("snapshot"),
            "migration {version} changes nothing"
        );
    }
    let full = schema_snapshot(&pool).await;

    // Revert one by one: each down migration must leave exactly the schema its up migration found.
    for (index, &version) in versions.iter().enumerate().rev() {
        let target = if index == 0 { 0 } else { versions[index - 1] };
        MIGRATOR.undo(&pool, target).await.unwrap_or_else(|e| panic!("revert {version}: {e}"));
        let after = schema_snapshot(&pool).await;
        let leftover: Vec<_> = after.difference(&before[index]).collect();
        let missing: Vec<_> = before[index].difference(&after).collect();
        assert!(
            leftover.is_empty() && missing.is_empty(),
            "down migration {version} left {leftover:#?}\nand did not restore {missing:#?}"
        );
    }
    assert_eq!(schema_snapshot(&pool).await, BTreeSet::new(), "every Carillon object is gone at version zero");
    assert_eq!(carillon_db::schema_version(&pool).await.expect("version at zero"), None);

    carillon_db::migrate(&pool).await.expect("apply everything again");
    assert_eq!(schema_snapshot(&pool).await, full, "re-applied schema differs from the first");
}
